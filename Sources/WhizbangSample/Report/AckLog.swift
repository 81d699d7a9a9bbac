import Foundation
import Whizbang

/// The acknowledgement log: one line per command whose events are durable, `<message id> <stream id>`, written
/// with one `write(2)` each so that a process killed at any moment has handed every listed line to the kernel.
final class AckLog: @unchecked Sendable {
    // Unchecked: used only by the one task that handles completions; the descriptor is never shared.
    private let descriptor: Int32
    let path: String

    init(path: String) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw SampleError("cannot open the ack log \(path): \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(descriptor) }

    /// Appends one line per command; called only after the commands' events are durable.
    func acknowledge(_ commands: [(MessageID, StreamID)]) throws {
        var text = ""
        for (messageID, streamID) in commands {
            text += "\(messageID) \(streamID)\n"
        }
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { raw in
                write(descriptor, raw.baseAddress! + offset, raw.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw SampleError("cannot write the ack log \(path): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    /// Reads an ack log: every complete line's message id and stream id. A torn last line is ignored.
    static func read(path: String) throws -> [(MessageID, StreamID)] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SampleError("cannot read the ack log \(path)")
        }
        let text = String(decoding: data, as: UTF8.self)
        var entries: [(MessageID, StreamID)] = []
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if !text.hasSuffix("\n") { lines.removeLast() }
        for (number, line) in lines.enumerated() where !line.isEmpty {
            let fields = line.split(separator: " ", maxSplits: 1)
            guard fields.count == 2, let messageID = MessageID(String(fields[0])) else {
                throw SampleError("the ack log \(path) has a malformed line \(number + 1): \(line)")
            }
            entries.append((messageID, StreamID(String(fields[1]))))
        }
        return entries
    }
}
