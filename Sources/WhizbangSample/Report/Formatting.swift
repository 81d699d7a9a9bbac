import Foundation

/// Number formatting for reports, independent of the locale.
enum Formatting {
    /// `1234567` as `1,234,567`.
    static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var result = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { result.append(",") }
            result.append(character)
        }
        return value < 0 ? "-" + result : result
    }

    static func grouped(_ value: Double) -> String { grouped(Int(value.rounded())) }

    static func seconds(_ value: Double) -> String { String(format: "%.3f", value) }

    static func mebibytes(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }

    static func padded(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    static func leftPadded(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }
}

/// A JSON object written with its keys in the order they were added.
struct JSONObject {
    private var fields: [String] = []

    mutating func add(_ key: String, _ value: Int) { fields.append("\(quoted(key)):\(value)") }
    mutating func add(_ key: String, _ value: UInt64) { fields.append("\(quoted(key)):\(value)") }
    mutating func add(_ key: String, _ value: Double) {
        fields.append("\(quoted(key)):\(value.isFinite ? String(format: "%.1f", value) : "null")")
    }
    mutating func add(_ key: String, _ value: Bool) { fields.append("\(quoted(key)):\(value)") }
    mutating func add(_ key: String, _ value: String) { fields.append("\(quoted(key)):\(quoted(value))") }
    mutating func add(_ key: String, _ values: [String]) {
        fields.append("\(quoted(key)):[\(values.map(quoted).joined(separator: ","))]")
    }

    var text: String { "{" + fields.joined(separator: ",") + "}" }

    private func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20: result += String(format: "\\u%04x", scalar.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
