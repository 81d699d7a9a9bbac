import Testing
@testable import Whizbang

/// The wait queue driven through its transitions without tasks: reserved callers can be granted, cancelled and
/// removed; ids stay consecutive, and tombstones are dropped as they reach the head.
@Suite struct WaitQueueTests {
    @Test func reservedCallersAreGrantedInOrderAndIdsAreConsecutive() {
        var queue = WaitQueue()
        let ids = (1...3).map { queue.reserve(holder: UInt($0) * 16) }
        #expect(ids == [ids[0], ids[0] + 1, ids[0] + 2])
        #expect(queue.count == 3)
        #expect(queue.popFirst()?.holder == 16)
        #expect(queue.count == 2)
        #expect(queue.popFirst()?.holder == 32)
        #expect(queue.popFirst()?.holder == 48)
        #expect(queue.popFirst() == nil)
    }

    @Test func cancellingAReservedCallerSkipsItAndItFindsItselfGone() {
        var queue = WaitQueue()
        let first = queue.reserve(holder: 16)
        let second = queue.reserve(holder: 32)
        #expect(queue.cancel(first) == nil)
        #expect(queue.count == 1)
        #expect(queue.headID == second)  // the tombstone at the head was dropped
        #expect(queue.popFirst()?.holder == 32)
        #expect(queue.isEmpty == false)  // the grant waits for its caller
        #expect(queue.cancel(first) == nil)  // a stale id names nobody
        #expect(queue.cancel(second) == nil)  // a granted caller cannot be cancelled any more
    }

    @Test func aCallerGrantedBeforeItParksLearnsItWhenItParks() async throws {
        var queue = WaitQueue()
        let id = queue.reserve(holder: 16)
        #expect(queue.popFirst()?.holder == 16)
        let result = try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Bool, any Error>) in
            guard case .granted = queue.park(id, continuation: continuation) else {
                return continuation.resume(returning: false)
            }
            continuation.resume(returning: true)
        }
        #expect(result)
        #expect(queue.isEmpty)
    }

    @Test func removeAllFailsEveryWaiterButKeepsGrants() {
        var queue = WaitQueue()
        let granted = queue.reserve(holder: 16)
        _ = queue.reserve(holder: 32)
        _ = queue.reserve(holder: 48)
        #expect(queue.popFirst()?.holder == 16)
        #expect(queue.removeAll().isEmpty)  // reserved callers fail when they park
        #expect(queue.count == 0)
        #expect(queue.headID == granted)
        #expect(queue.popFirst() == nil)
    }

    @Test func cancellationsInTheMiddleAreDroppedOnceTheyReachTheHead() {
        var queue = WaitQueue()
        let ids = (0..<1_000).map { queue.reserve(holder: UInt($0 + 1) * 16) }
        for id in ids where id % 2 == 0 { _ = queue.cancel(id) }
        #expect(queue.count == 500)
        var granted: [UInt] = []
        while let grant = queue.popFirst() { granted.append(grant.holder) }
        #expect(granted == ids.indices.filter { ids[$0] % 2 != 0 }.map { UInt($0 + 1) * 16 })
        #expect(queue.count == 0)
    }
}
