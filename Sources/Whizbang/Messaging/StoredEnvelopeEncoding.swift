/// How the dispatcher writes each event's ``EnvelopeMetadata`` into the store's `metadata` column (see
/// <doc:StoredEnvelopeForm>).
///
/// Readers need no setting: ``EnvelopeMetadata/init(storedForm:rowStreamID:)`` tells the forms apart by their first
/// byte, so a store may hold events in any mix of them, and changing the setting never rewrites an event.
public enum StoredEnvelopeEncoding: String, Sendable, Hashable, CaseIterable {
    /// The compact binary form, ``EnvelopeMetadata/binaryStoredForm(rowStreamID:)``: about a third of the JSON
    /// form's bytes (59 instead of 193 for a default ledger envelope) and cheaper to write and read. Tools show it
    /// through ``EnvelopeMetadata/init(storedForm:rowStreamID:)``; the `sqlite3` shell and `psql` show bytes.
    case binary

    /// The compact JSON form, ``EnvelopeMetadata/storedForm(rowStreamID:)``: legible as it is in the `sqlite3` shell
    /// and `psql`, and queryable with their JSON functions.
    case json
}
