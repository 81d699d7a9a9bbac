public import DequeModule

/// Callers waiting for a serial lane or a permit, oldest first, each found by its id in constant time.
///
/// A caller joins in two steps, each under the owner's lock: ``reserve(holder:freshID:)`` gives it the next id (ids in a
/// queue are consecutive, so a slot's index is its id minus the head's), and ``park(_:continuation:)`` stores its
/// continuation once it has one. Between the two it may already be handed the lane (its slot becomes `granted`) or be
/// cancelled (its slot becomes a tombstone). Cancelling a caller turns its slot into a tombstone in place; tombstones
/// at the head are dropped as they surface, so every slot is appended once and dropped once: amortised O(1).
@usableFromInline
struct WaitQueue: Sendable {
    @usableFromInline
    enum Slot: Sendable {
        /// Admitted; not yet suspended.
        case reserved(holder: UInt)
        /// Suspended, waiting to be resumed.
        case parked(QueuedCaller)
        /// Handed the lane or a permit before it suspended; it finds out when it parks.
        case granted
        /// Cancelled, stopped, or handed over: nobody waits here any more.
        case removed
    }

    /// What a caller handed the lane or a permit was doing.
    @usableFromInline
    enum Grant: Sendable {
        /// It was suspended: resume it.
        case parked(QueuedCaller)
        /// It had not suspended yet: it finds its slot granted when it parks.
        case reserved(holder: UInt)

        @inlinable
        var holder: UInt {
            switch self {
            case .parked(let caller): caller.holder
            case .reserved(let holder): holder
            }
        }
    }

    /// What a caller finds when it parks.
    @usableFromInline
    enum ParkResult: Sendable {
        /// It waits; a release, a stop or its cancellation resumes it.
        case parked
        /// It was handed the lane or a permit in the meantime.
        case granted
        /// It was cancelled or stopped in the meantime.
        case gone
    }

    @usableFromInline var slots: Deque<Slot>
    /// The id of `slots.first`.
    @usableFromInline var headID: UInt64
    /// The callers still waiting (reserved or parked), tombstones and grants not counted.
    @usableFromInline var count: Int

    @inlinable
    init() {
        self.slots = Deque()
        self.headID = 1
        self.count = 0
    }

    /// The id the next reserved caller gets.
    @inlinable
    var nextID: UInt64 { headID &+ UInt64(slots.count) }

    @inlinable
    var isEmpty: Bool { slots.isEmpty }

    @inlinable
    func index(of id: UInt64) -> Int? {
        guard id >= headID else { return nil }
        let offset = id &- headID
        return offset < UInt64(slots.count) ? Int(offset) : nil
    }

    /// Adds a caller at the tail and returns its id. An empty queue starts its ids at `freshID` when given: a lane
    /// that is removed and created again then never reuses an id that a stale cancellation might still name.
    @inlinable
    mutating func reserve(holder: UInt, freshID: UInt64? = nil) -> UInt64 {
        if slots.isEmpty, let freshID { headID = freshID }
        let id = nextID
        slots.append(.reserved(holder: holder))
        count += 1
        return id
    }

    /// Stores the continuation of the caller with `id`, or says what happened to it since it reserved.
    @inlinable
    mutating func park(_ id: UInt64, continuation: UnsafeContinuation<Bool, any Error>) -> ParkResult {
        guard let index = index(of: id) else { return .gone }
        switch slots[index] {
        case .reserved(let holder):
            slots[index] = .parked(QueuedCaller(id: id, holder: holder, continuation: continuation))
            return .parked
        case .granted:
            slots[index] = .removed
            dropTombstones()
            return .granted
        case .parked, .removed:
            return .gone
        }
    }

    /// Removes the caller with `id` if it still waits, returning its continuation if it had parked.
    @inlinable
    mutating func cancel(_ id: UInt64) -> QueuedCaller? {
        guard let index = index(of: id) else { return nil }
        switch slots[index] {
        case .parked(let caller):
            slots[index] = .removed
            count -= 1
            dropTombstones()
            return caller
        case .reserved:
            // It finds its slot gone when it parks, and fails there.
            slots[index] = .removed
            count -= 1
            dropTombstones()
            return nil
        case .granted, .removed:
            return nil
        }
    }

    /// Takes the oldest waiting caller, which is handed the lane or a permit.
    @inlinable
    mutating func popFirst() -> Grant? {
        dropTombstones()
        var index = 0
        while index < slots.count {
            switch slots[index] {
            case .parked(let caller):
                slots[index] = .removed
                count -= 1
                dropTombstones()
                return .parked(caller)
            case .reserved(let holder):
                slots[index] = .granted
                count -= 1
                return .reserved(holder: holder)
            case .granted, .removed:
                // Only grants not yet collected by their callers (a few at most) are stepped over here.
                index += 1
            }
        }
        return nil
    }

    /// Removes every waiting caller and returns those that had parked; callers that had not fail when they park.
    /// Grants stay, so that their callers learn they hold the lane or a permit and give it back.
    @inlinable
    mutating func removeAll() -> [QueuedCaller] {
        var parked: [QueuedCaller] = []
        parked.reserveCapacity(count)
        for index in slots.indices {
            switch slots[index] {
            case .parked(let caller):
                parked.append(caller)
                slots[index] = .removed
            case .reserved:
                slots[index] = .removed
            case .granted, .removed:
                break
            }
        }
        count = 0
        dropTombstones()
        return parked
    }

    @inlinable
    mutating func dropTombstones() {
        while let first = slots.first, case .removed = first {
            slots.removeFirst()
            headID &+= 1
        }
    }
}
