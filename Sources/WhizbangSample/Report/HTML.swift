/// Escaping for text and attribute values in the report's markup.
enum HTML {
    /// `text` with `&`, `<`, `>`, `"` and `'` replaced by character references, and control characters by U+FFFD.
    static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            // Control characters have no place in markup, not even as references: they show as a replacement mark.
            case _ where character.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\t" }):
                result += "\u{FFFD}"
            default: result.append(character)
            }
        }
        return result
    }
}
