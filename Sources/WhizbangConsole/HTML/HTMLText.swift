/// Builds an HTML document in which every value is escaped: markup is written only through ``raw(_:)`` with text the
/// console itself wrote, and everything that came from the store goes through ``text(_:)`` or ``attribute(_:)``.
///
/// A payload such as `<script>alert(1)</script>` therefore shows as those characters and never runs.
package struct HTMLText: Sendable {
    /// The document so far.
    private(set) var html = ""

    /// Appends markup the console wrote; never pass a value read from the store.
    mutating func raw(_ markup: StaticString) {
        html += "\(markup)"
    }

    /// Appends a value as element content, escaped.
    mutating func text(_ value: String) {
        html += Self.escape(value)
    }

    /// Appends an integer as element content.
    mutating func text(_ value: some BinaryInteger) {
        html += String(value)
    }

    /// Appends `<tag class="...">value</tag>`, with the value escaped.
    mutating func element(_ tag: StaticString, _ value: String, id: StaticString? = nil) {
        html += "<\(tag)"
        if let id { html += " id=\"\(id)\"" }
        html += ">" + Self.escape(value) + "</\(tag)>"
    }

    /// Appends a link to `path` (a path and query the console built, whose values were percent-encoded with
    /// ``percentEncoded(_:)``) with `label` as its escaped text.
    mutating func link(_ path: String, _ label: String) {
        html += "<a href=\"" + Self.escape(path) + "\">" + Self.escape(label) + "</a>"
    }

    /// Replaces the five characters that HTML gives a meaning — `&`, `<`, `>`, `"` and `'` — by character
    /// references, so that the value is text in element content and in quoted attribute values alike, and control
    /// characters other than line feed and tab by U+FFFD: markup may not hold them, not even as references (XML 1.0
    /// forbids them, and the sample's run report is read as XML).
    package static func escape(_ value: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            case "\n", "\t": escaped.unicodeScalars.append(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: escaped += "\u{FFFD}"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }

    /// Percent-encodes a value for a query string: everything but unreserved characters (RFC 3986) is encoded, so
    /// that a stream id with `&`, `#`, `/` or spaces survives the round trip.
    static func percentEncoded(_ value: String) -> String {
        var encoded = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                encoded.unicodeScalars.append("%")
                encoded.unicodeScalars.append(hex[Int(byte >> 4)])
                encoded.unicodeScalars.append(hex[Int(byte & 0x0F)])
            }
        }
        return encoded
    }
}
