import Testing

@testable import WhizbangStore

/// `SQLiteStatement.isUTF8` decides whether a payload is bound as text or as a blob: it must agree with strict
/// UTF-8 validation (no NUL bytes) on every input, on its fast paths as on its slow one.
struct SQLiteStatementUTF8Tests {
    /// The reference: valid UTF-8 without a NUL byte.
    static func reference(_ bytes: [UInt8]) -> Bool {
        !bytes.contains(0) && String(validating: bytes, as: UTF8.self) != nil
    }

    static func isUTF8(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { SQLiteStatement.isUTF8($0) }
    }

    @Test("agrees with strict validation on chosen inputs")
    func chosenInputs() {
        let inputs: [[UInt8]] = [
            [], Array("{\"amount\":12}".utf8), Array("héllo wörld, ünïcode".utf8), Array("日本語のテキスト".utf8),
            [0xB1, 0x03, 0x41, 0x42],  // the binary envelope form's marker first
            [0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x80],  // a continuation byte after eight ASCII bytes
            [0xC0, 0x80], [0xC1, 0xBF], [0xF5, 0x80, 0x80, 0x80], [0xFF],  // leads that no character starts with
            [0xC2, 0xA9], [0xF4, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80],  // the edges of the valid leads
            [0xE2, 0x82], [0x41, 0x00, 0x42], [0xC3, 0xA9, 0x00], [0xED, 0xA0, 0x80],  // cut short, NUL, a surrogate
        ]
        for input in inputs {
            #expect(Self.isUTF8(input) == Self.reference(input), "\(input)")
        }
    }

    @Test("agrees with strict validation on generated inputs")
    func generatedInputs() {
        // Bytes drawn mostly from ASCII with some of each kind of UTF-8 byte, so that every path is taken often.
        let alphabet: [UInt8] = [0x00, 0x41, 0x7A, 0x7F, 0x80, 0xA9, 0xBF, 0xC0, 0xC2, 0xC3, 0xDF, 0xE0, 0xE2, 0xED,
            0xEF, 0xF0, 0xF4, 0xF5, 0xFF] + Array(repeating: 0x61, count: 12)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        var valid = 0
        for _ in 0..<20_000 {
            let input = (0..<(next() % 24)).map { _ in alphabet[next() % alphabet.count] }
            let expected = Self.reference(input)
            if expected { valid += 1 }
            #expect(Self.isUTF8(input) == expected, "\(input)")
        }
        // Both answers occur often enough to mean something.
        #expect(valid > 1_000 && valid < 19_000, "\(valid) valid")
    }

    @Test("accepts text of any characters, and refuses it cut or with a byte changed")
    func generatedText() {
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        /// A character from every length of UTF-8 (one to four bytes), never NUL.
        func character() -> Unicode.Scalar {
            let ranges: [ClosedRange<UInt32>] = [0x01...0x7F, 0x80...0x7FF, 0x800...0xFFFF, 0x1_0000...0x10_FFFF]
            while true {
                let range = ranges[next() % ranges.count]
                let value = range.lowerBound + UInt32(next() % Int(range.upperBound - range.lowerBound + 1))
                if let scalar = Unicode.Scalar(value) { return scalar }  // not a surrogate
            }
        }
        var refused = 0
        for _ in 0..<5_000 {
            var text = String.UnicodeScalarView()
            for _ in 0..<(1 + next() % 12) { text.append(character()) }
            let bytes = Array(String(text).utf8)
            #expect(Self.isUTF8(bytes), "\(bytes)")
            var changed = bytes
            changed[next() % changed.count] = UInt8(truncatingIfNeeded: next())
            let cut = Array(bytes.dropLast())
            for input in [changed, cut] {
                let expected = Self.reference(input)
                if !expected { refused += 1 }
                #expect(Self.isUTF8(input) == expected, "\(input)")
            }
        }
        #expect(refused > 1_000, "\(refused) refused")
    }
}
