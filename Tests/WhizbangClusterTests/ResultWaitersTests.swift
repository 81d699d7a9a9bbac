import Testing
import Whizbang

@testable import WhizbangCluster

/// Which awaited results the client looks up: the rows a notification names, before or after their wait began, not
/// every wait; and when waits time out.
@Suite("Result waiters")
struct ResultWaitersTests {
    /// Starts a wait for `row` until `deadline` and returns once it is registered.
    func startWaiting(
        _ row: Int64, _ waiters: ResultWaiters, until deadline: ContinuousClock.Instant = .now + .seconds(60),
        lookUpAtOnce: Bool = false, in group: inout TaskGroup<Void>
    ) async {
        group.addTask {
            _ = try? await waiters.wait(for: row, messageID: MessageID(), until: deadline, lookUpAtOnce: lookUpAtOnce)
        }
        await waiters.registered.wait(upTo: .seconds(60))
    }

    @Test("a notification's rows are looked up if awaited, or when their wait begins; a bare notification looks up all",
        .timeLimit(.minutes(1)))
    func lookUps() async {
        let waiters = ResultWaiters()
        await withTaskGroup(of: Void.self) { group in
            await startWaiting(1, waiters, in: &group)
            #expect(waiters.takeRowsToLookUp(everything: false) == [])
            waiters.recorded([2, 99])
            #expect(waiters.takeRowsToLookUp(everything: false) == [])
            await startWaiting(2, waiters, in: &group)
            #expect(waiters.takeRowsToLookUp(everything: false) == [2])
            #expect(waiters.takeRowsToLookUp(everything: false) == [])
            waiters.recorded([1, 99])
            #expect(waiters.takeRowsToLookUp(everything: false) == [1])
            waiters.recorded(nil)
            #expect(Set(waiters.takeRowsToLookUp(everything: false)) == [1, 2])
            #expect(Set(waiters.takeRowsToLookUp(everything: true)) == [1, 2])
            waiters.close(with: ClusterError(.notRunning, message: "done"))
        }
    }

    @Test("a row named before its wait is remembered until the second full look-up after", .timeLimit(.minutes(1)))
    func notifiedRowsAreRememberedForTwoFullLookUps() async {
        let waiters = ResultWaiters()
        await withTaskGroup(of: Void.self) { group in
            waiters.recorded([5, 6])
            _ = waiters.takeRowsToLookUp(everything: true)
            await startWaiting(5, waiters, in: &group)
            #expect(waiters.takeRowsToLookUp(everything: false) == [5])
            _ = waiters.takeRowsToLookUp(everything: true)
            await startWaiting(6, waiters, in: &group)
            #expect(waiters.takeRowsToLookUp(everything: false) == [])
            #expect(Set(waiters.takeRowsToLookUp(everything: true)) == [5, 6])
            waiters.close(with: ClusterError(.notRunning, message: "done"))
        }
    }

    @Test("a notification that named no rows makes the waits that begin after it look up at once, for two full look-ups",
        .timeLimit(.minutes(1)))
    func bareNotificationsAreRemembered() async {
        let waiters = ResultWaiters()
        await withTaskGroup(of: Void.self) { group in
            waiters.recorded(nil)
            _ = waiters.takeRowsToLookUp(everything: false)
            await startWaiting(7, waiters, in: &group)
            #expect(waiters.takeRowsToLookUp(everything: false) == [7])
            _ = waiters.takeRowsToLookUp(everything: true)
            await startWaiting(8, waiters, in: &group)
            #expect(waiters.takeRowsToLookUp(everything: false) == [])
            await startWaiting(9, waiters, lookUpAtOnce: true, in: &group)
            #expect(waiters.takeRowsToLookUp(everything: false) == [9])
            waiters.close(with: ClusterError(.notRunning, message: "done"))
        }
    }

    @Test("waits fail with timedOut once their own deadline passes, the earliest first", .timeLimit(.minutes(1)))
    func deadlines() async {
        let waiters = ResultWaiters()
        let start = ContinuousClock.now
        await withTaskGroup(of: (Int64, ClusterError.Code?).self) { group in
            for (row, seconds): (Int64, Int64) in [(1, 120), (2, 60)] {
                group.addTask {
                    do {
                        _ = try await waiters.wait(
                            for: row, messageID: MessageID(), until: start + .seconds(seconds), lookUpAtOnce: false)
                        return (row, nil)
                    } catch {
                        return (row, (error as? ClusterError)?.code)
                    }
                }
                await waiters.registered.wait(upTo: .seconds(60))
            }
            #expect(waiters.earliestDeadline == start + .seconds(60))
            waiters.expire(now: start + .seconds(59))
            waiters.expire(now: start + .seconds(61))
            let first = await group.next()
            #expect(first?.0 == 2 && first?.1 == .timedOut)
            #expect(waiters.earliestDeadline == start + .seconds(120))
            waiters.expire(now: start + .seconds(121))
            let second = await group.next()
            #expect(second?.0 == 1 && second?.1 == .timedOut)
            #expect(waiters.earliestDeadline == nil)
        }
    }

    @Test("a wait that times out says whether any node held a partition's lease at the last look-up")
    func timedOutSaysWhetherANodeRuns() async {
        let waiters = ResultWaiters()
        let start = ContinuousClock.now
        for owned in [false, true] {
            waiters.noteOwned(owned)
            await withTaskGroup(of: ClusterError?.self) { group in
                group.addTask {
                    do {
                        _ = try await waiters.wait(
                            for: 1, messageID: MessageID(), until: start + .seconds(60), lookUpAtOnce: false)
                        return nil
                    } catch {
                        return error as? ClusterError
                    }
                }
                await waiters.registered.wait(upTo: .seconds(60))
                waiters.expire(now: start + .seconds(61))
                let error = await group.next() ?? nil
                #expect(error?.code == .timedOut)
                let message = error?.message ?? ""
                #expect(message.contains("no node held a partition's lease") == !owned, "\(message)")
                #expect(message.contains("will run") == owned, "\(message)")
                #expect(message.hasSuffix("await it again with the same message id"), "\(message)")
            }
        }
    }

    @Test("the waits of rows found deleted fail with resultExpired; the other waits go on", .timeLimit(.minutes(1)))
    func deletedRowsExpire() async {
        let waiters = ResultWaiters()
        await withTaskGroup(of: ClusterError.Code?.self) { group in
            for row: Int64 in [1, 2] {
                group.addTask {
                    do {
                        _ = try await waiters.wait(
                            for: row, messageID: MessageID(), until: .now + .seconds(60), lookUpAtOnce: true)
                        return nil
                    } catch {
                        return (error as? ClusterError)?.code
                    }
                }
                await waiters.registered.wait(upTo: .seconds(60))
            }
            #expect(Set(waiters.takeRowsToLookUp(everything: true)) == [1, 2])
            waiters.expired([1])
            let first = await group.next()
            #expect(first == .resultExpired)
            #expect(waiters.takeRowsToLookUp(everything: true) == [2])
            waiters.close(with: ClusterError(.notRunning, message: "done"))
            let second = await group.next()
            #expect(second == .notRunning)
        }
    }

    @Test("a look-up's results reach their waits; a result that does not decode fails its own wait alone",
        .timeLimit(.minutes(1)))
    func malformedResultFailsAlone() async {
        let waiters = ResultWaiters()
        let result = ClusterCommandResult(
            messageID: MessageID(), outcome: .accepted, streamVersion: 3, eventCount: 1, reason: nil, state: nil,
            node: "n")
        await withTaskGroup(of: (Int64, Result<UInt64, ClusterError>).self) { group in
            for row: Int64 in [1, 2] {
                group.addTask {
                    do {
                        let got = try await waiters.wait(
                            for: row, messageID: MessageID(), until: .now + .seconds(60), lookUpAtOnce: true)
                        return (row, .success(got.streamVersion))
                    } catch {
                        let code = error as? ClusterError ?? ClusterError(.commandFailed, message: "\(error)")
                        return (row, .failure(code))
                    }
                }
                await waiters.registered.wait(upTo: .seconds(60))
            }
            waiters.deliver([1: .success(result), 2: .failure(ClusterError(.malformedResult, message: "bad"))])
            var outcomes: [Int64: Result<UInt64, ClusterError>] = [:]
            for await (row, outcome) in group { outcomes[row] = outcome }
            #expect((try? outcomes[1]?.get()) == 3)
            if case .failure(let error) = outcomes[2] { #expect(error.code == .malformedResult) } else {
                Issue.record("row 2 got \(String(describing: outcomes[2]))")
            }
        }
    }

    @Test("a results notification names its rows, or none when it carries no list")
    func notificationPayloads() {
        #expect(ClusterClient.rows(inResultsNotification: "d12,13,400") == [12, 13, 400])
        #expect(ClusterClient.rows(inResultsNotification: "d7") == [7])
        #expect(ClusterClient.rows(inResultsNotification: "d") == nil)
        #expect(ClusterClient.rows(inResultsNotification: "d1,x") == nil)
    }
}
