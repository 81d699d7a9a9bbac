extension AckLog {
    /// The command that refuses the ack log of another ledger, for the words of its refusal.
    enum Refusing {
        case run, verify
    }

    /// The refusal, by `command`, of the ack log at `path`, whose first line names the ledger `named`, given with
    /// `database`, which holds the ledger `identity` (`nil`: one without an identity). The command has written
    /// nothing to either.
    static func otherLedger(
        _ path: String, names named: UInt64, database: String, holds identity: UInt64?, by command: Refusing
    ) -> SampleError {
        let held =
            identity.map { "ledger \($0)" } ?? "a ledger without an identity (older versions made ledgers without one)"
        let consequence =
            switch command {
            case .run:
                "run adds none of this ledger's to it, and wrote nothing to either: give --ack-log the ack log of "
                    + "\(database), or a new path"
            case .verify:
                "verify, which would find its commands missing from this ledger, checked nothing: give --ack-log the "
                    + "ack log that 'run --ack-log' wrote for \(database)"
            }
        return SampleError.refusal(
            "--ack-log \(path) is the ack log of another ledger: its first line names ledger \(named), and "
                + "\(database) holds \(held); an ack log holds the acknowledgements of one ledger only, so "
                + consequence)
    }
}
