import Foundation
import Whizbang
import WhizbangStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
// In this module, Glibc's `struct stat` is owned by the clang module that first includes its header: Dispatch's.
#if canImport(CDispatch)
import CDispatch
#endif

/// An import file read and checked whole before anything is written: every line an exported event with only known
/// fields, each given once, valid ids and payloads, and of a kind the ledger knows (``LedgerEventCheck``); positions
/// 1, 2, 3… in file order; each stream's versions 1, 2, 3… with no gap or repeat; no event id twice; and last the
/// export's end line (``ExportEnd``) with the number of events, so that a file cut short at a line's end is not taken
/// for a shorter log. Lines end with LF or CRLF. The first problem is reported as `file:line: what is wrong`.
struct ImportFile {
    /// The events, in file order, as the store recorded them: with their positions and recording times. Only these
    /// are kept of each line (not its text or its decoded fields), so that a large export takes as little memory as
    /// its events do.
    var events: [RecordedEvent] = []
    /// The number of distinct streams.
    var streamCount = 0

    /// The whole of the regular file at `path` (or at the end of a link to one). Anything else is refused before it
    /// is read: reading a pipe or a terminal waits for a writer, with no end in sight, and a device may never end.
    private static func regularFileContents(_ path: String) throws -> Data {
        // What the path names, at the end of its links: a link to nothing, a loop of links or a file that may not
        // be read is refused with the system's words for it, not as "not a regular file".
        var status = stat()
        guard stat(path, &status) == 0 else { throw SampleError.cannotRead(path) }
        // A directory cannot be read as a file; the error names why.
        guard status.st_mode & S_IFMT != S_IFDIR else { throw SampleError.cannotRead(path) }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw SampleError.refusal(
                "\(path) is not a regular file (a pipe, a device or a terminal); import reads an export file whole "
                    + "before it writes anything: give --input a file")
        }
        // Without O_NONBLOCK, opening a FIFO put there since the look above would wait for a writer.
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard descriptor >= 0 else { throw SampleError.cannotRead(path) }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            return try handle.readToEnd() ?? Data()
        } catch {
            throw SampleError.cannotRead(path)
        }
    }

    /// Reads and checks `path`; calls `progress` with the bytes checked so far every 1,024 lines and asks `stop`
    /// whether to give up.
    ///
    /// - Parameter requiringEnd: whether the file must end with the export's end line; `false` takes a file with
    ///   none (an export made before the line existed), though one that has it must still count right.
    static func read(
        path: String,
        requiringEnd: Bool = true,
        progress: (_ bytes: Int, _ total: Int) -> Void = { _, _ in },
        stopRequested: () -> Bool = { false }
    ) throws -> ImportFile {
        let contents = try regularFileContents(path)
        var file = ImportFile()
        let decoder = JSONDecoder()
        // By stream id, whose identity is its bytes: two spellings of "café" are two streams, as in the store.
        var versions: [StreamID: UInt64] = [:]
        var eventLines: [MessageID: Int] = [:]
        var ledgerEvents = LedgerEventCheck()
        var number = 0
        var offset = 0
        var lineStart = contents.startIndex
        while lineStart < contents.endIndex {
            number += 1
            let lineEnd = contents[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? contents.endIndex
            var bytes = contents[lineStart..<lineEnd]
            // The line's first byte, counted from the file's first (0).
            let lineOffset = offset
            offset += bytes.count + 1
            lineStart = lineEnd < contents.endIndex ? contents.index(after: lineEnd) : lineEnd
            // A CRLF line end (an export converted by an editor or `unix2dos`) ends every line as LF does, the end
            // line included: JSON took the CR for whitespace, an end line compared byte for byte did not.
            if bytes.last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
            // A UTF-8 byte-order mark that an editor put before the first line: JSON's decoder passed over it on an
            // event line, the end line's check (byte for byte) did not.
            if number == 1, bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
            if number & 1023 == 0 {
                progress(offset, contents.count)
                if stopRequested() { throw SampleError("stopped") }
            }
            func problem(_ text: String) -> SampleError { SampleError("\(path):\(number): \(text)") }
            // Said instead of "not valid JSON" when the line is not even text (a file that is not an export, or one
            // damaged or converted to another encoding): looked for only when the line did not decode, which every
            // line with a byte that is not UTF-8 fails to.
            func notText() -> SampleError? {
                Self.firstInvalidUTF8Byte(in: bytes).map { index in
                    problem(
                        "not valid UTF-8 text: byte \(index + 1) of the line (file offset \(lineOffset + index)) "
                            + "begins no valid UTF-8 character; an export is UTF-8 JSON")
                }
            }
            // No JSON line holds a NUL byte, and UTF-8 text only for U+0000: a file with one is most likely UTF-16 or
            // UTF-32 (whose event lines Foundation's decoder would read, to refuse only the end line) or not text.
            if let index = Self.firstNULByte(in: bytes) {
                throw problem(
                    "not UTF-8 text: a NUL byte at byte \(index + 1) of the line (file offset \(lineOffset + index)); "
                        + "an export is UTF-8 JSON, and this file looks UTF-16 or UTF-32 encoded (convert it with "
                        + "`iconv -t UTF-8`) or is not text")
            }
            if ExportEnd.isEndLine(bytes) {
                // Exactly as an export writes it: no other field, no other spelling.
                guard let end = try? decoder.decode(ExportEnd.self, from: bytes),
                    (try? end.encoded()) == Data(bytes)
                else {
                    throw notText() ?? problem(#"not the export's end line ({"end":{"events":N}})"#)
                }
                guard end.end.events == file.events.count else {
                    throw problem("the end line counts \(end.end.events) events; the file holds \(file.events.count)")
                }
                guard lineStart == contents.endIndex else {
                    throw problem("the export's end line is followed by more lines; it must be the last")
                }
                file.streamCount = versions.count
                return file
            }
            let event: ExportedEvent
            do {
                event = try decoder.decode(ExportedEvent.self, from: bytes)
            } catch let error as DecodingError {
                throw notText() ?? problem("not an exported event (\(DecodingErrorText.describe(error)))")
            }
            // The decoder took the first of two fields of one name and dropped the other unseen.
            if let name = RepeatedField.firstName(in: bytes) {
                throw problem("the field '\(name)' is given twice; a line gives each field once")
            }
            let data: EventData
            do {
                data = try event.eventData()
                try ledgerEvents.check(data)
            } catch {
                throw problem(error.description)
            }
            if let earlier = eventLines.updateValue(number, forKey: data.eventID) {
                throw problem("event id \(event.eventID) already appears on line \(earlier)")
            }
            let expectedPosition = UInt64(file.events.count + 1)
            guard event.position == expectedPosition else {
                throw problem("position \(event.position) where \(expectedPosition) comes next (positions run 1, 2, 3… in file order)")
            }
            let last = versions[StreamID(event.streamID)] ?? 0
            guard event.streamVersion == last &+ 1 else {
                let what =
                    last == 0
                    ? "starts at version \(event.streamVersion), not 1"
                    : event.streamVersion > last
                        ? "jumps from version \(last) to \(event.streamVersion) (a gap)"
                        : "has version \(event.streamVersion) after version \(last) (out of order)"
                throw problem("stream \(event.streamID) \(what)")
            }
            versions[StreamID(event.streamID)] = event.streamVersion
            file.events.append(
                RecordedEvent(
                    streamID: StreamID(event.streamID), streamVersion: event.streamVersion, position: event.position,
                    eventID: data.eventID, eventType: data.eventType, schemaVersion: data.schemaVersion,
                    data: data.data, metadata: data.metadata,
                    recordedAt: Date(timeIntervalSince1970: Double(event.recordedAt) / 1_000_000)))
        }
        guard !requiringEnd else {
            throw SampleError(
                "\(path):\(number + 1): the file ends without the export's end line, so it may have been cut short; "
                    + "nothing was imported. An export made before the sample wrote that line has none: import it "
                    + "with --allow-missing-end-line")
        }
        file.streamCount = versions.count
        return file
    }

    /// The index in `bytes` of its first NUL byte, or `nil`.
    static func firstNULByte(in bytes: Data) -> Int? {
        bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress, let found = memchr(base, 0, buffer.count) else { return nil }
            return base.distance(to: UnsafeRawPointer(found))
        }
    }

    /// The index in `bytes` of the first byte that does not begin a valid UTF-8 character (a stray continuation byte,
    /// a lead byte whose sequence is cut short or overlong, a surrogate's or one past U+10FFFF); `nil` when all are
    /// UTF-8.
    static func firstInvalidUTF8Byte(in bytes: some Collection<UInt8>) -> Int? {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var index = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar): index += scalar.count
            case .emptyInput: return nil
            case .error: return index
            }
        }
    }
}
