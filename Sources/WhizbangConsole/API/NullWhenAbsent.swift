/// An optional field of the API that is always in the JSON: `null` when it has no value.
///
/// Synthesized `Encodable` leaves out a `nil` optional; the article lists `next` and `checkpoint` as keys every
/// answer has, null when there is nothing, so a client may read them without testing for the key first.
@propertyWrapper
struct NullWhenAbsent<Value: Codable & Sendable>: Codable, Sendable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) {
        self.wrappedValue = wrappedValue
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(Value.self)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue {
            try container.encode(wrappedValue)
        } else {
            try container.encodeNil()
        }
    }
}

extension KeyedDecodingContainer {
    /// Reads a missing key as `nil`, as synthesized decoding reads a missing optional.
    func decode<Value>(_ type: NullWhenAbsent<Value>.Type, forKey key: Key) throws -> NullWhenAbsent<Value> {
        try decodeIfPresent(type, forKey: key) ?? NullWhenAbsent(wrappedValue: nil)
    }
}
