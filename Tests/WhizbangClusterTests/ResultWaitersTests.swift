import Testing
import Whizbang

@testable import WhizbangCluster

/// Which awaited results the client looks up: the new waits and the rows a notification names, not every wait.
@Suite("Result waiters")
struct ResultWaitersTests {
    /// Starts a wait for `row` and returns once it is registered.
    func startWaiting(_ row: Int64, _ waiters: ResultWaiters, in group: inout TaskGroup<Void>) async {
        group.addTask { _ = try? await waiters.wait(for: row, messageID: MessageID(), until: .now + .seconds(60)) }
        await waiters.added.wait(upTo: .seconds(60))
    }

    @Test("a notification's rows are looked up if awaited; new waits once; a bare notification looks up all")
    func lookUps() async {
        let waiters = ResultWaiters()
        await withTaskGroup(of: Void.self) { group in
            await startWaiting(1, waiters, in: &group)
            #expect(waiters.takeRowsToLookUp(everything: false) == [1])
            await startWaiting(2, waiters, in: &group)
            #expect(waiters.takeRowsToLookUp(everything: false) == [2])
            #expect(waiters.takeRowsToLookUp(everything: false) == [])
            waiters.recorded([2, 99])
            #expect(waiters.takeRowsToLookUp(everything: false) == [2])
            waiters.recorded([99])
            #expect(waiters.takeRowsToLookUp(everything: false) == [])
            waiters.recorded(nil)
            #expect(Set(waiters.takeRowsToLookUp(everything: false)) == [1, 2])
            #expect(Set(waiters.takeRowsToLookUp(everything: true)) == [1, 2])
            waiters.close(with: ClusterError(.notRunning, message: "done"))
        }
    }

    @Test("the waits of rows found deleted fail with resultExpired; the other waits go on", .timeLimit(.minutes(1)))
    func deletedRowsExpire() async {
        let waiters = ResultWaiters()
        await withTaskGroup(of: ClusterError.Code?.self) { group in
            for row: Int64 in [1, 2] {
                group.addTask {
                    do {
                        _ = try await waiters.wait(for: row, messageID: MessageID(), until: .now + .seconds(60))
                        return nil
                    } catch {
                        return (error as? ClusterError)?.code
                    }
                }
                await waiters.added.wait(upTo: .seconds(60))
            }
            #expect(Set(waiters.takeRowsToLookUp(everything: false)) == [1, 2])
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
                        let got = try await waiters.wait(for: row, messageID: MessageID(), until: .now + .seconds(60))
                        return (row, .success(got.streamVersion))
                    } catch {
                        let code = error as? ClusterError ?? ClusterError(.commandFailed, message: "\(error)")
                        return (row, .failure(code))
                    }
                }
                await waiters.added.wait(upTo: .seconds(60))
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
