import Whizbang

/// The ledger rebuilt from its log: every account's balance, the totals, and every rule the log breaks.
///
/// Events are applied in global order with ``apply(_:)``; the checks are those of `verify`: positions strictly
/// increasing, versions contiguous per stream, an account opened exactly once and before anything else, no balance
/// ever negative, each transfer's money either delivered, refunded or visibly in flight and, for events whose command
/// id is read, no command recorded twice (every ledger command records one event).
struct LedgerProjection: Sendable {
    struct StreamTally: Sendable {
        let streamID: StreamID
        var version: UInt64 = 0
        var balance = 0
        var isOpen = false
        var isAccount = false
    }

    /// The event that recorded a command: its stream's tally and its position.
    private struct CommandRecord: Sendable {
        let slot: Int32
        let position: UInt64
    }

    struct TransferTally: Sendable {
        var debited = 0
        var credited = 0
        var refunded = 0
        var stage = Transfer.Stage.none
        var requestedAmount = 0
    }

    /// Every stream's tally, in the order the log first names the streams; ``slots`` and ``slotsByKey`` find one.
    private var tallies: [StreamTally] = []
    /// The index of each stream's tally by stream id.
    private var slots: [StreamID: Int] = [:]
    /// The index of each stream's tally plus one by the store's stream key, for events that carry one (0: a key not
    /// met yet): an array lookup instead of hashing the stream id.
    private var slotsByKey: [Int32] = []
    /// The index of each stream's tally by the store's stream key, for keys too far apart for ``slotsByKey``.
    private var slotsBySparseKey: [Int64: Int32] = [:]
    private(set) var transfers: [String: TransferTally] = [:]
    private(set) var lastPosition: UInt64 = 0
    private(set) var eventCount = 0
    private(set) var openedCount = 0
    private(set) var openedSum = 0
    private(set) var depositCount = 0
    private(set) var depositSum = 0
    private(set) var withdrawalCount = 0
    private(set) var withdrawSum = 0
    /// Whether an amount or a sum passed the range of `Int`; the sums are then incomplete and not compared.
    private(set) var overflowed = false
    private(set) var violations: [String] = []
    private(set) var violationCount = 0
    /// Streams first met at an event without a stream id, named by their key (`LedgerReplay` then replays again
    /// with every event's id).
    private(set) var unnamedStreamCount = 0
    /// Where each command id found in the events' metadata (when the replay reads them) was recorded: the
    /// event's tally and position.
    private var commands: [MessageID: CommandRecord] = [:]
    /// The events applied without a command id: metadata that holds none readable, or not read.
    private(set) var eventsWithoutCommandID = 0
    private static let violationsKept = 20

    /// The number of streams with events.
    var streamCount: Int { tallies.count }

    /// The stream the command `messageID` wrote to, if an event read with its command id recorded it.
    func stream(ofCommand messageID: MessageID) -> StreamID? {
        commands[messageID].map { tallies[Int($0.slot)].streamID }
    }

    /// The sum of all account balances.
    var total: Int {
        tallies.reduce(0) { $0 &+ ($1.isAccount ? $1.balance : 0) }
    }

    /// The number of open accounts.
    var accountCount: Int { tallies.reduce(0) { $0 &+ ($1.isOpen ? 1 : 0) } }

    /// The balance of each account.
    var balances: [StreamID: Int] {
        var result: [StreamID: Int] = [:]
        result.reserveCapacity(tallies.count)
        for (streamID, balance) in accountBalances { result[streamID] = balance }
        return result
    }

    /// The balance of each account, each stream once, without building a dictionary of them.
    var accountBalances: some Sequence<(StreamID, Int)> {
        tallies.lazy.filter(\.isAccount).map { ($0.streamID, $0.balance) }
    }

    /// The number of accounts with a balance (those in ``accountBalances``).
    var balanceCount: Int { tallies.reduce(0) { $0 &+ ($1.isAccount ? 1 : 0) } }

    /// Money debited for transfers that is neither credited nor refunded yet.
    var moneyInFlight: Int { transfers.values.reduce(0) { $0 &+ $1.debited &- $1.credited &- $1.refunded } }

    /// Transfers that have not reached a final stage.
    var unfinishedTransfers: Int {
        transfers.values.reduce(0) { count, tally in
            count + ([.completed, .failed, .compensated].contains(tally.stage) ? 0 : 1)
        }
    }

    /// An order-independent digest of every account's balance, to compare two projections cheaply.
    var balanceDigest: UInt64 { Self.digest(accountBalances) }

    /// The digest of a set of balances, each stream at most once; equal sets give equal digests whatever their
    /// order, and the digest of two disjoint sets is the wrapping sum of theirs.
    static func digest(_ balances: some Sequence<(StreamID, Int)>) -> UInt64 {
        var digest: UInt64 = 0
        for (streamID, balance) in balances {
            var hash: UInt64 = 0xCBF2_9CE4_8422_2325
            for byte in streamID.rawValue.utf8 {
                hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3
            }
            hash = (hash ^ UInt64(bitPattern: Int64(balance))) &* 0x100_0000_01B3
            digest &+= hash
        }
        return digest
    }

    /// Reserves room for the tallies of `streams` streams.
    mutating func reserveCapacity(streams: Int) {
        tallies.reserveCapacity(streams)
    }

    mutating func apply(_ event: DecodedEvent) {
        eventCount += 1
        if event.position <= lastPosition {
            violate("position \(event.position) does not follow position \(lastPosition)")
        }
        lastPosition = event.position
        let slot = slot(of: event)
        var tally = tallies[slot]
        if let messageID = event.messageID {
            record(messageID, slot: slot, position: event.position)
        } else {
            eventsWithoutCommandID += 1
        }
        if event.version != tally.version &+ 1 {
            violate("stream \(tally.streamID) jumps from version \(tally.version) to \(event.version)")
        }
        tally.version = event.version
        switch event.event {
        case .account(let accountEvent):
            apply(accountEvent, to: &tally, streamID: tally.streamID, position: event.position)
        case .transfer(let transferEvent): apply(transferEvent, streamID: tally.streamID)
        }
        tallies[slot] = tally
    }

    /// The index of the tally of `event`'s stream, made on the stream's first event.
    private mutating func slot(of event: DecodedEvent) -> Int {
        guard let key = event.streamKey else { return slot(of: event.streamID ?? StreamID("")) }
        // A key indexes the array only while the array stays proportional to the streams met, whatever the keys.
        guard key >= 0, key < Int64(slotsByKey.count) || key <= 2 * Int64(tallies.count) + 1024 else {
            if let slot = slotsBySparseKey[key] { return Int(slot) }
            let slot = newSlot(for: event, key: key)
            slotsBySparseKey[key] = Int32(slot)
            return slot
        }
        let index = Int(key)
        if index < slotsByKey.count, slotsByKey[index] != 0 { return Int(slotsByKey[index]) - 1 }
        let slot = newSlot(for: event, key: key)
        if index >= slotsByKey.count {
            let count = max(index + 1, 2 * slotsByKey.count)
            slotsByKey.append(contentsOf: repeatElement(0, count: count - slotsByKey.count))
        }
        slotsByKey[index] = Int32(slot + 1)
        return slot
    }

    /// A tally for the stream of `event`, met by `key` for the first time.
    ///
    /// A stream met by key from its first event on is never put in ``slots``, which then stays empty on a store that
    /// gives keys (a stream's events all carry its key): at 100,000 streams that dictionary cost 8 MiB. Only a
    /// stream's first event may carry its id (see ``DecodedEvent/streamID``); a stream first met at a later event is
    /// named by its key and counted in ``unnamedStreamCount``, and `apply(_:)` reports that its versions do not
    /// start at 1.
    private mutating func newSlot(for event: DecodedEvent, key: Int64) -> Int {
        guard let streamID = event.streamID else {
            unnamedStreamCount += 1
            return appendTally(StreamID("stream key \(key)"))
        }
        return slots[streamID] ?? appendTally(streamID)
    }

    /// The index of the tally of the stream `streamID`, made on its first event.
    private mutating func slot(of streamID: StreamID) -> Int {
        if let slot = slots[streamID] { return slot }
        let slot = appendTally(streamID)
        slots[streamID] = slot
        return slot
    }

    /// Appends a new tally for `streamID` and returns its index.
    private mutating func appendTally(_ streamID: StreamID) -> Int {
        tallies.append(StreamTally(streamID: streamID))
        return tallies.count - 1
    }

    private mutating func apply(
        _ event: Account.Event, to tally: inout StreamTally, streamID: StreamID, position: UInt64
    ) {
        /// Where the event is, for a violation's message (made only for one).
        func place() -> String { "account \(streamID) at version \(tally.version) (position \(position))" }
        /// Adds `amount` to `sum`; on overflow records a violation and leaves `sum` as it was.
        func accumulate(_ sum: inout Int, _ amount: Int) -> Bool {
            let (result, overflow) = sum.addingReportingOverflow(amount)
            guard !overflow else { return false }
            sum = result
            return true
        }
        let amount: Int
        let sign: Int
        switch event {
        case .opened(let opened): (amount, sign) = (opened.initialDeposit, 1)
        case .deposited(let deposited): (amount, sign) = (deposited.amount, 1)
        case .withdrawn(let withdrawn): (amount, sign) = (withdrawn.amount, -1)
        case .transferDebited(let debited): (amount, sign) = (debited.amount, -1)
        case .transferCredited(let credited): (amount, sign) = (credited.amount, 1)
        case .transferRefunded(let refunded): (amount, sign) = (refunded.amount, 1)
        }
        if case .opened = event {
            if tally.isOpen { violate("account \(streamID) is opened twice (version \(tally.version))") }
            tally.isOpen = true
        } else if !tally.isOpen {
            violate("account \(streamID) has an event before it is opened (version \(tally.version))")
        }
        tally.isAccount = true
        guard amount >= 0 else {
            violate("\(place()) has a negative amount \(amount), which no command produces")
            return
        }
        var balance = tally.balance
        var sums = (openedSum, depositSum, withdrawSum)
        var transfer = TransferTally()
        var fits = accumulate(&balance, sign * amount)
        switch event {
        case .opened: fits = fits && accumulate(&sums.0, amount)
        case .deposited: fits = fits && accumulate(&sums.1, amount)
        case .withdrawn: fits = fits && accumulate(&sums.2, amount)
        case .transferDebited(let debited):
            transfer = transfers[debited.transfer] ?? TransferTally()
            fits = fits && accumulate(&transfer.debited, amount)
        case .transferCredited(let credited):
            transfer = transfers[credited.transfer] ?? TransferTally()
            fits = fits && accumulate(&transfer.credited, amount)
        case .transferRefunded(let refunded):
            transfer = transfers[refunded.transfer] ?? TransferTally()
            fits = fits && accumulate(&transfer.refunded, amount)
        }
        guard fits else {
            overflowed = true
            violate("\(place()): the amount \(amount) overflows the balance \(tally.balance) or the ledger's sums")
            return
        }
        tally.balance = balance
        (openedSum, depositSum, withdrawSum) = sums
        switch event {
        case .opened: openedCount += 1
        case .deposited: depositCount += 1
        case .withdrawn: withdrawalCount += 1
        case .transferDebited(let debited): transfers[debited.transfer] = transfer
        case .transferCredited(let credited): transfers[credited.transfer] = transfer
        case .transferRefunded(let refunded): transfers[refunded.transfer] = transfer
        }
        if tally.balance < 0 {
            violate("\(place()) has a negative balance \(tally.balance)")
        }
    }

    private mutating func apply(_ event: Transfer.Event, streamID: StreamID) {
        var tally = transfers[streamID.rawValue] ?? TransferTally()
        switch event {
        case .requested(let requested):
            tally.stage = .requested
            tally.requestedAmount = requested.amount
        case .debited: tally.stage = .debited
        case .failed: tally.stage = .failed
        case .completed: tally.stage = .completed
        case .compensated: tally.stage = .compensated
        }
        transfers[streamID.rawValue] = tally
    }

    /// Checks every transfer's money once the whole log is applied: nothing credited or refunded beyond what was
    /// debited, completed transfers credited, compensated ones refunded.
    mutating func finishTransferChecks() {
        for (transfer, tally) in transfers.sorted(by: { $0.key < $1.key }) {
            let (paid, overflow) = tally.credited.addingReportingOverflow(tally.refunded)
            if overflow || paid > tally.debited {
                violate("transfer \(transfer) paid out \(tally.credited) + \(tally.refunded) of \(tally.debited) debited")
            }
            if tally.stage == .completed && tally.credited != tally.debited {
                violate("transfer \(transfer) is completed but credited \(tally.credited) of \(tally.debited)")
            }
            if tally.stage == .compensated && tally.refunded != tally.debited {
                violate("transfer \(transfer) is compensated but refunded \(tally.refunded) of \(tally.debited)")
            }
            if tally.stage == .failed && tally.debited != 0 {
                violate("transfer \(transfer) failed but debited \(tally.debited)")
            }
        }
    }

    /// Notes that the event at `position` recorded the command `messageID`; one recorded before is the command
    /// applied twice, since every ledger command records exactly one event.
    private mutating func record(_ messageID: MessageID, slot: Int, position: UInt64) {
        guard let first = commands.updateValue(CommandRecord(slot: Int32(slot), position: position), forKey: messageID)
        else { return }
        violate(
            "command \(messageID) is recorded twice: at position \(first.position) in "
                + "\(tallies[Int(first.slot)].streamID) and at position \(position) in \(tallies[slot].streamID) (each "
                + "ledger command records one event)")
        commands[messageID] = first
    }

    mutating func violate(_ message: String) {
        violationCount += 1
        if violations.count < Self.violationsKept { violations.append(message) }
    }
}

/// A stored event, decoded.
struct DecodedEvent: Sendable {
    /// The stream's id; `nil` for an event that carries a ``streamKey`` and is not its stream's first (version 1),
    /// whose stream the projection finds by key, so a reader does not look the id up for every event.
    let streamID: StreamID?
    let version: UInt64
    let position: UInt64
    let event: LedgerEvent
    let messageID: MessageID?
    /// The store's integer key of the stream, when the store has one (see `SQLiteEventRow.streamKey`).
    var streamKey: Int64?
}
