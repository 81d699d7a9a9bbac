import Testing

@testable import WhizbangCluster

/// Where a node's inbox fetch starts: past the rows it has run, back down when an insert below commits.
@Suite("Inbox cursor")
struct InboxCursorTests {
    let start = ContinuousClock.now
    let owned: [Int32: Int64] = [0: 1, 1: 1]

    @Test("the next fetch starts after the rows the last one ran, for the same partitions")
    func advances() {
        var cursor = InboxCursor(fullFetchInterval: .seconds(1))
        #expect(cursor.begin(owned: owned, now: start) == 0)
        cursor.end(next: 10)
        #expect(cursor.begin(owned: owned, now: start + .milliseconds(10)) == 10)
        // A partition given up keeps the start; one claimed, or claimed again at a new epoch, resets it.
        cursor.end(next: 20)
        #expect(cursor.begin(owned: [0: 1], now: start + .milliseconds(20)) == 20)
        cursor.end(next: 30)
        #expect(cursor.begin(owned: [0: 1, 2: 1], now: start + .milliseconds(30)) == 0)
        cursor.end(next: 40)
        #expect(cursor.begin(owned: [0: 2, 2: 1], now: start + .milliseconds(40)) == 0)
    }

    @Test("an insert notified while a fetch is in flight moves the next start down to it")
    func lowersDuringFetch() {
        var cursor = InboxCursor(fullFetchInterval: .seconds(1))
        _ = cursor.begin(owned: owned, now: start)
        cursor.end(next: 10)
        #expect(cursor.begin(owned: owned, now: start + .milliseconds(1)) == 10)
        cursor.lower(to: 4)
        cursor.end(next: 25)
        #expect(cursor.begin(owned: owned, now: start + .milliseconds(2)) == 4)
        cursor.end(next: 25)
        cursor.lower(to: 30)
        #expect(cursor.begin(owned: owned, now: start + .milliseconds(3)) == 25)
        cursor.end(next: 40)
        cursor.lower(to: nil)
        #expect(cursor.begin(owned: owned, now: start + .milliseconds(4)) == 0)
    }

    @Test("a fetch starts at the first row once the full-fetch interval has passed")
    func fullFetch() {
        var cursor = InboxCursor(fullFetchInterval: .seconds(1))
        _ = cursor.begin(owned: owned, now: start)
        cursor.end(next: 10)
        #expect(cursor.begin(owned: owned, now: start + .milliseconds(999)) == 10)
        cursor.end(next: 12)
        #expect(cursor.begin(owned: owned, now: start + .seconds(1)) == 0)
        cursor.end(next: 12)
        #expect(cursor.begin(owned: owned, now: start + .milliseconds(1500)) == 12)
    }
}
