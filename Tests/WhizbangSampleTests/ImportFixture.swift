import Foundation

/// Export files made up for import tests: good ones of any size, and the kinds of bad line an import must refuse.
enum ImportFixture {
    /// One exported event as a line of JSON (without the newline), keys in the order an export writes them.
    /// `schemaVersion` is written only when given, as an export writes only one that is not 1.
    static func line(
        position: Int, stream: String, version: Int, eventID: String, type: String = "Deposited",
        data: String = #"{\"amount\":1}"#, recordedAt: Int64 = 1_700_000_000_000_000, schemaVersion: Int? = nil
    ) -> String {
        #"{"data":"\#(data)","eventID":"\#(eventID)","eventType":"\#(type)","position":\#(position),"#
            + #""recordedAt":\#(recordedAt),"# + (schemaVersion.map { #""schemaVersion":\#($0),"# } ?? "")
            + #""streamID":"\#(stream)","streamVersion":\#(version)}"#
    }

    /// A UUID in canonical form whose last digits are `number`.
    static func eventID(_ number: Int) -> String {
        let tail = String(number, radix: 16)
        return "0192f1c4-7a3e-7c3d-9a8b-" + String(repeating: "0", count: 12 - tail.count) + tail
    }

    /// A good export of `streams` × `perStream` events, each stream's events together.
    static func good(streams: Int, perStream: Int) -> [String] {
        var lines: [String] = []
        lines.reserveCapacity(streams * perStream)
        for stream in 0..<streams {
            for version in 1...perStream {
                let position = lines.count + 1
                lines.append(line(position: position, stream: "s-\(stream)", version: version, eventID: eventID(position)))
            }
        }
        return lines
    }

    /// A kind of bad last line.
    enum Bad: String, CaseIterable, CustomStringConvertible {
        case duplicateEventID, versionOutOfOrder, versionGap, malformedUUID, brokenLine, exactDuplicateLine, unknownField
        // Lines the store would refuse, or change: checked at reading, so that the line is named.
        case recordingTimeTooFar, nulInEventType, dataTooLarge

        var description: String { rawValue }

        /// The bad line to put after `lines` (good, ending with at least two events of one stream).
        func line(after lines: [String]) -> String {
            let position = lines.count + 1
            let first = "s-0"
            switch self {
            case .duplicateEventID:
                return ImportFixture.line(position: position, stream: "extra", version: 1, eventID: ImportFixture.eventID(1))
            case .versionOutOfOrder:
                return ImportFixture.line(position: position, stream: first, version: 1, eventID: ImportFixture.eventID(position))
            case .versionGap:
                return ImportFixture.line(position: position, stream: "extra", version: 2, eventID: ImportFixture.eventID(position))
            case .malformedUUID:
                return ImportFixture.line(position: position, stream: "extra", version: 1, eventID: "not-a-uuid")
            case .brokenLine:
                return String(ImportFixture.line(position: position, stream: "extra", version: 1, eventID: ImportFixture.eventID(position)).prefix(40))
            case .exactDuplicateLine:
                return lines.last!
            case .unknownField:
                var line = ImportFixture.line(position: position, stream: "extra", version: 1, eventID: ImportFixture.eventID(position))
                line.removeLast()
                return line + #","colour":"red"}"#
            case .recordingTimeTooFar:
                // Read into a date and back, it came back as …992.
                return ImportFixture.line(
                    position: position, stream: "extra", version: 1, eventID: ImportFixture.eventID(position),
                    recordedAt: 9_007_199_254_740_993)
            case .nulInEventType:
                return ImportFixture.line(
                    position: position, stream: "extra", version: 1, eventID: ImportFixture.eventID(position),
                    type: #"Deposit\u0000ed"#)
            case .dataTooLarge:
                return ImportFixture.line(
                    position: position, stream: "extra", version: 1, eventID: ImportFixture.eventID(position),
                    data: String(repeating: "x", count: 2 << 20))
            }
        }
    }

    /// The end line an export writes after `events` event lines.
    static func endLine(events: Int) -> String {
        #"{"end":{"events":\#(events)}}"#
    }

    /// Writes lines to a file, each ending with a newline, and after them the export's end line counting them
    /// (unless `endLine` is `false`: a file as exports were before they had one).
    static func write(_ lines: [String], to url: URL, endLine: Bool = true) throws {
        var data = Data()
        for line in lines + (endLine ? [Self.endLine(events: lines.count)] : []) {
            data.append(contentsOf: line.utf8)
            data.append(UInt8(ascii: "\n"))
        }
        try data.write(to: url)
    }

    /// `data` with every line end `\n` made `\r\n`, as a Windows editor or `unix2dos` leaves a file.
    static func crlf(_ data: Data) -> Data {
        var result = Data(capacity: data.count + data.count / 64)
        for byte in data {
            if byte == UInt8(ascii: "\n") { result.append(UInt8(ascii: "\r")) }
            result.append(byte)
        }
        return result
    }

    /// Every file under `directory` (relative path) with its bytes, and every directory; to compare before and after.
    static func snapshot(_ directory: URL) throws -> [String: Data] {
        var result: [String: Data] = [:]
        let base = directory.resolvingSymlinksInPath().path
        let enumerator = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isDirectoryKey])
        while let url = enumerator?.nextObject() as? URL {
            let path = String(url.resolvingSymlinksInPath().path.dropFirst(base.count))
            let isDirectory = try url.resourceValues(forKeys: [.isDirectoryKey]).isDirectory ?? false
            result[path] = isDirectory ? Data("<directory>".utf8) : try Data(contentsOf: url)
            let mode = try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int
            result[path + " mode"] = Data("\(mode ?? -1)".utf8)
        }
        return result
    }
}
