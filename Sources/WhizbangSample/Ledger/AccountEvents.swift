/// An account was opened with its first deposit. Stored as `{"initialDeposit":1000}`.
struct Opened: Codable, Hashable, Sendable {
    var initialDeposit: Int
}

/// Money was paid into an account. Stored as `{"amount":42}`.
struct Deposited: Codable, Hashable, Sendable {
    var amount: Int
}

/// Money was taken out of an account. Stored as `{"amount":42}`.
struct Withdrawn: Codable, Hashable, Sendable {
    var amount: Int
}

/// Money left an account for a transfer. Stored as `{"amount":42,"transfer":"transfer-7"}`.
struct TransferDebited: Codable, Hashable, Sendable {
    var amount: Int
    var transfer: String
}

/// Money arrived in an account from a transfer.
struct TransferCredited: Codable, Hashable, Sendable {
    var amount: Int
    var transfer: String
}

/// Money debited for a transfer whose credit was rejected went back to its account.
struct TransferRefunded: Codable, Hashable, Sendable {
    var amount: Int
    var transfer: String
}
