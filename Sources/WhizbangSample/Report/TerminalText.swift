/// Text from the log (a stream id, an event's data, a line of a file) as a terminal may show it: its control
/// characters written as escapes (`\u{1B}`), so that what a user put in a stream id cannot clear the screen, move the
/// cursor, set a window's title or hide what comes before it in the sample's output.
enum TerminalText {
    /// `text` with every control character but the tab written as `\u{XX}` (C0, DEL and C1): line feeds and
    /// carriage returns too, so that quoted text can neither start a line that looks like the sample's own nor
    /// write over one; with `endingLine`, a last line feed stays, as the end of the line.
    static func safe(_ text: String, endingLine: Bool = false) -> String {
        func isControl(_ scalar: Unicode.Scalar) -> Bool {
            switch scalar.value {
            case 0x09: false
            case 0x00...0x1F, 0x7F...0x9F: true
            default: false
            }
        }
        if endingLine, text.hasSuffix("\n") { return safe(String(text.dropLast())) + "\n" }
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var safe = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if isControl(scalar) {
                let hex = String(scalar.value, radix: 16, uppercase: true)
                safe.append(contentsOf: "\\u{\(hex.count < 2 ? "0" + hex : hex)}".unicodeScalars)
            } else {
                safe.append(scalar)
            }
        }
        return String(safe)
    }
}
