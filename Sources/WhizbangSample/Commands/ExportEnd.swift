import Foundation

/// The last line of an export, `{"end":{"events":N}}`: how many events the file holds.
///
/// A file cut short at the end of a line (a disk that filled, a pipe that broke, a copy stopped half-way) otherwise
/// reads as a shorter log that is valid in every line; with this line last, an import tells it from a whole export
/// and refuses it. Exports made before the line existed have none; `import --allow-missing-end-line` takes them.
struct ExportEnd: Codable, Equatable {
    /// What the export holds.
    struct Counts: Codable, Equatable {
        /// The number of event lines before the end line.
        var events: Int
    }

    var end: Counts

    init(events: Int) {
        end = Counts(events: events)
    }

    /// Whether `line` is meant as an end line rather than an event: a JSON object whose first key is `end` (an
    /// export writes its keys sorted; an event's first key is `data` or `dataBase64`).
    static func isEndLine(_ line: some Collection<UInt8>) -> Bool {
        line.starts(with: #"{"end""#.utf8)
    }

    /// The end line, without its newline, as an export writes it.
    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}
