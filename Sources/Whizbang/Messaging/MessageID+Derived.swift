extension MessageID {
    /// Creates the identifier of a message that `cause` leads to in step `step`: the same cause and step always give
    /// the same identifier, in any process.
    ///
    /// A process manager that sends its commands with identifiers derived from the event it reacts to sends a
    /// redelivered event's commands under the same identifiers as the first time, and a test can name the commands
    /// it expects:
    ///
    /// ```swift
    /// let command = MessageEnvelope(
    ///     message: Account.Command.withdraw(amount), causedBy: cause,
    ///     messageID: MessageID(derivedFrom: cause.messageID, step: "debit"), streamID: source)
    /// _ = try await accounts.send(command)
    /// ```
    ///
    /// The result is a UUID version 8 (custom) made from a 128-bit hash of both inputs; it is not time-ordered, and
    /// the hash is not cryptographic: do not derive identifiers from values an adversary chooses.
    ///
    /// - Parameters:
    ///   - cause: the identifier of the message that caused this one, usually the event's id.
    ///   - step: what distinguishes this message among those the cause leads to, such as `"debit"` or a line number.
    public init(derivedFrom cause: MessageID, step: String) {
        var first = DerivedIDHash(seed: 0xcbf2_9ce4_8422_2325)
        var second = DerivedIDHash(seed: 0x6c62_272e_07bb_0142)
        for byte in cause.bytes {
            first.add(byte)
            second.add(byte)
        }
        for byte in step.utf8 {
            first.add(byte)
            second.add(byte)
        }
        // Version 8 in the high half's bits 12...15, the RFC 9562 variant (0b10) in the low half's top bits.
        let high = (first.value & ~0xF000) | 0x8000
        let low = (second.value & ~(0b11 << 62)) | (0b10 << 62)
        self.init(high: high, low: low)
    }
}

/// A 64-bit FNV-1a hash with a final avalanche step (that of SplitMix64), so that nearby inputs give distant values.
private struct DerivedIDHash {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func add(_ byte: UInt8) {
        state = (state ^ UInt64(byte)) &* 0x100_0000_01b3
    }

    var value: UInt64 {
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xbf58_476d_1ce4_e5b9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94d0_49bb_1331_11eb
        return mixed ^ (mixed >> 31)
    }
}
