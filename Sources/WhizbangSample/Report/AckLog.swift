import Foundation
import Whizbang
import WhizbangStore

/// The acknowledgement log: one line per command whose events are durable, `<message id> <stream id>`, written
/// with one `write(2)` each so that a process killed at any moment has handed every listed line to the kernel.
final class AckLog: @unchecked Sendable {
    // Unchecked: used only by the one task that runs the command; the descriptor is never shared.
    private let descriptor: Int32
    let path: String
    /// The file this run made (the path was empty when checked), which ``removeIfUnused()`` may remove.
    private let made: FileIdentity?
    /// Whether ``acknowledge(_:)`` has been called: from then on the file is kept, whatever happens to the run.
    private var used = false

    /// What ``check(path:start:)`` found at the path: nothing, or the file it read.
    enum Found: Sendable, Equatable {
        case absent
        case file(FileIdentity)
    }

    /// What the run does with its ledger, which decides the ack logs it may add to.
    enum LedgerStart: Sendable {
        /// `--keep` (or `--cluster`) on a database that holds a ledger: the log may be that ledger's.
        case kept
        /// A run without `--keep`: a new ledger replaces whatever the sample's was there.
        case fresh
        /// `option` (`--keep` or `--cluster`) given for `database`, which holds no ledger: the run starts a new one.
        case missing(option: String, database: String)
    }

    /// The ack log the current run opened before it touched its database, for the workload.
    @TaskLocal static var opened: AckLog?

    /// Opens the ack log that ``check(path:start:)`` passed. The run opens it before it touches its database, so that
    /// a path that cannot be opened (a trailing slash, a name under a regular file, a name too long, a full disk) is
    /// refused (exit status 2) while the ledger is as it was; a run that then fails before it acknowledges anything
    /// removes the file it made (``removeIfUnused()``). A file made in the path since the check (a symbolic link to
    /// another file, say) is refused, never appended to. A path found empty is created with `O_EXCL`, readable by its
    /// owner only (as the ledger is); a file found is opened without following a link and must be the one checked.
    init(path: String, found: Found) throws {
        self.path = path
        switch found {
        case .absent:
            descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_APPEND | O_CLOEXEC, 0o600)
        case .file:
            descriptor = open(path, O_WRONLY | O_NOFOLLOW | O_APPEND | O_CLOEXEC)
        }
        guard descriptor >= 0 else {
            let code = errno
            if code == EEXIST || code == ELOOP || code == ENOENT {
                throw SampleError.refusal(
                    "\(path) changed after the run checked it (\(String(cString: strerror(code)))); the run appends "
                        + "only to the ack log it checked, and left the path alone")
            }
            throw SampleError.refusal(
                "cannot open the ack log \(path): \(String(cString: strerror(code))); the ledger was not touched")
        }
        switch found {
        case .absent:
            made = FileIdentity(descriptor: descriptor)
        case .file(let identity):
            made = nil
            guard FileIdentity(descriptor: descriptor) == identity else {
                close(descriptor)
                throw SampleError.refusal(
                    "\(path) was replaced after the run checked it; the run appends only to the ack log it checked, "
                        + "and left the path alone")
            }
        }
    }

    /// Removes the file, if this run made it and has acknowledged nothing in it, and the path still names it: called
    /// when the run fails, so that a failure before any command leaves no ack log behind. A file that was there
    /// before the run, or that holds an acknowledgement, is kept.
    func removeIfUnused() {
        // Empty too: nothing but this run writes to it, but a file with anything in it is not removed.
        guard let made, !used, FileIdentity(atPath: path) == made, lseek(descriptor, 0, SEEK_END) == 0 else { return }
        unlink(path)
    }

    deinit { close(descriptor) }

    /// Refuses, before the run touches its database, an ack log that the run could not append to or that is not one:
    /// a path that is not a regular file (a directory, a symbolic link, a device), or a file whose first line is not
    /// an acknowledgement. A missing file is made by ``init(path:found:)``, still before the database is touched.
    /// A run that starts a new ledger (`start`) refuses an ack log that already holds acknowledgements too: they are of
    /// another ledger, and `verify` would find them missing from the new one.
    ///
    /// - Returns: What was found, for ``init(path:found:)``.
    static func check(path: String, start: LedgerStart) throws -> Found {
        // A trailing slash names a directory, which an ack log never is (as `--report` refuses one).
        guard !path.hasSuffix("/") else {
            throw SampleError.refusal("--ack-log: \(path) names a directory; an ack log is one file: name the file")
        }
        // A relative path in a working directory that no longer exists (``PathParts``) names nothing that can be made.
        guard !PathParts(path).directory.hasPrefix(".") else {
            throw SampleError.refusal(
                "cannot use the ack log \(path): the working directory no longer exists; give an absolute path")
        }
        switch PathKind(path) {
        case .absent:
            let directory = PathParts(path).directory
            guard access(directory, W_OK) == 0 else {
                throw SampleError.refusal("cannot create the ack log \(path): \(String(cString: strerror(errno)))")
            }
            return .absent
        case .regularFile:
            break
        default:
            throw SampleError.refusal(
                "\(path) is not a regular file; run appends acknowledgements only to an ack log it wrote, or makes one")
        }
        guard access(path, W_OK) == 0 else {
            throw SampleError.refusal("cannot append to the ack log \(path): \(String(cString: strerror(errno)))")
        }
        let readable = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard readable >= 0, let identity = FileIdentity(descriptor: readable) else {
            if readable >= 0 { close(readable) }
            throw SampleError("cannot read the ack log \(path)")
        }
        let handle = FileHandle(fileDescriptor: readable, closeOnDealloc: true)
        defer { try? handle.close() }
        let found = Found.file(identity)
        let head = (try? handle.read(upToCount: 256)) ?? Data()
        guard let firstLine = head.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).first,
            !head.isEmpty
        else { return found }
        let fields = String(decoding: firstLine, as: UTF8.self).split(separator: " ", maxSplits: 1)
        guard fields.count == 2, MessageID(String(fields[0])) != nil else {
            throw SampleError.refusal(
                "\(path) exists and is not an ack log (its first line is not an acknowledgement); run leaves it alone: "
                    + "give --ack-log a new path")
        }
        switch start {
        case .kept: break
        case .fresh:
            throw SampleError.refusal(
                "\(path) holds the acknowledgements of an earlier run; without --keep this run starts a new ledger, "
                    + "which they would not match: give --ack-log a new path, or --keep to add to the ledger")
        case .missing(let option, let database):
            throw SampleError.refusal(
                "\(path) holds the acknowledgements of an earlier run, but \(database) holds no ledger for \(option) to "
                    + "add to: this run would start a new one, which they would not match, so nothing was changed: give "
                    + "--database the ledger this ack log is of, or --ack-log a new path")
        }
        // A last line without its end (a run stopped while writing it, such as on a full disk): the next
        // acknowledgement would be joined to it, and `verify` would read the two as one that names no stored event.
        guard let end = try? handle.seekToEnd(), end > 0, (try? handle.seek(toOffset: end - 1)) != nil,
            let last = try? handle.read(upToCount: 1), last.count == 1
        else { throw SampleError("cannot read the ack log \(path)") }
        guard last.first == UInt8(ascii: "\n") else {
            throw SampleError.refusal(
                "\(path) ends in a line cut short (a run stopped while it wrote the line); acknowledgements appended "
                    + "to it would be joined to that line: give --ack-log a new path")
        }
        return found
    }

    /// Appends one line per command; called only after the commands' events are durable.
    func acknowledge(_ commands: [(MessageID, StreamID)]) throws {
        used = true
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
            throw SampleError.cannotRead(path, what: "the ack log")
        }
        var entries: [(MessageID, StreamID)] = []
        // Split as bytes: as a String, "\r\n" is one character, which no "\n" matches, so a file with CRLF line ends
        // read as one torn line, and as no acknowledgements at all. A line's "\r" is dropped.
        let newline = UInt8(ascii: "\n")
        var lines = data.split(separator: newline, omittingEmptySubsequences: false)
        if data.last != newline { lines.removeLast() }
        for (number, lineBytes) in lines.enumerated() {
            let bytes = lineBytes.last == UInt8(ascii: "\r") ? lineBytes.dropLast() : lineBytes
            guard !bytes.isEmpty else { continue }
            let line = String(decoding: bytes, as: UTF8.self)
            let fields = line.split(separator: " ", maxSplits: 1)
            guard fields.count == 2, let messageID = MessageID(String(fields[0])) else {
                throw SampleError("the ack log \(path) has a malformed line \(number + 1): \(line)")
            }
            entries.append((messageID, StreamID(String(fields[1]))))
        }
        return entries
    }
}
