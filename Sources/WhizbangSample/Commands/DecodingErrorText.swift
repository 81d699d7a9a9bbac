/// A decoding error in a few words a user can act on (what is missing or wrong, and where), instead of the
/// `DecodingError` dump with its coding keys: for an import's line and for a stored event's payload alike.
enum DecodingErrorText {
    /// `error` in a few words; an error that is not a `DecodingError` as it describes itself.
    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, _): return "the field '\(key.stringValue)' is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "the field '\(path(context))' has the wrong type"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON" : context.debugDescription
        @unknown default: return "\(error)"
        }
    }
}
