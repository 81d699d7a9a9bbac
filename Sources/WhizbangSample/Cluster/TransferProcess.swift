import Foundation
import Whizbang
import WhizbangCluster

/// The transfer saga as a process manager of the cluster: a leased job that runs on one node at a time and moves
/// with it. For each `TransferRequested` event it sends the transfer's steps through the inbox, each with an id
/// derived from the job's name, the event's id and the step (``ClusterClient/commandID(job:event:step:)``):
///
/// - `debit`: debit the source; when rejected, `finish` records the failure;
/// - `record-debit`, then `credit` the target; when accepted, `finish` completes the transfer;
/// - when the credit is rejected, `refund` the source, and `finish` compensates the transfer.
///
/// An event delivered again after a failover sends the same ids: the inbox returns the first results (the node keeps
/// every inbox row unless `--inbox-retention-seconds` is given, which must outlast any redelivery), so the new
/// owner continues where the old one stopped and nothing runs twice, without the accounts having to recognise
/// repeats. The run waits for a transfer's `finish` (``finishID(ofRequest:)``) before it sends another command to
/// either account, so the transfers of one batch never share an account and are run concurrently.
struct TransferProcess: ProcessManager {
    static let jobName = "ledger-transfers"

    let client: ClusterClient
    var name: String { Self.jobName }
    /// Only the requests: the node reads no other event of the log for this job.
    var eventTypes: Set<String>? { ["TransferRequested"] }

    /// The id of a step of the transfer requested by the event `request`.
    static func stepID(_ step: String, ofRequest request: MessageID) -> MessageID {
        ClusterClient.commandID(job: jobName, event: request, step: step)
    }

    /// The id of the transfer's last step, whatever its outcome.
    static func finishID(ofRequest request: MessageID) -> MessageID { stepID("finish", ofRequest: request) }

    func apply(_ events: [RecordedEvent]) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for event in events where event.eventType == "TransferRequested" {
                group.addTask { try await run(event) }
            }
            try await group.waitForAll()
        }
    }

    func handle(_ event: RecordedEvent, cause: EnvelopeMetadata) async throws { try await run(event) }

    /// Runs the steps of the transfer `event` requests, or does nothing for another event.
    private func run(_ event: RecordedEvent) async throws {
        guard event.eventType == "TransferRequested" else { return }
        let requested = try JSONDecoder().decode(Transfer.Requested.self, from: event.data)
        let transfer = event.streamID
        let (from, to) = (StreamID(requested.from), StreamID(requested.to))
        func send<A: Aggregate>(_ command: A.Command, to stream: StreamID, as type: A.Type, step: String) async throws
            -> ClusterCommandResult
        {
            let result = try await client.send(
                command, to: stream, as: type, messageID: Self.stepID(step, ofRequest: event.eventID))
            guard result.outcome != .failed else {
                throw SampleError("transfer \(transfer) step \(step) failed: \(result.reason ?? "no reason")")
            }
            return result
        }
        let debit = try await send(
            Account.Command.debit(transfer: transfer.rawValue, amount: requested.amount), to: from, as: Account.self,
            step: "debit")
        guard debit.outcome == .accepted else {
            _ = try await send(
                Transfer.Command.recordFailure(reason: debit.reason ?? "rejected"), to: transfer, as: Transfer.self,
                step: "finish")
            return
        }
        _ = try await send(Transfer.Command.recordDebit, to: transfer, as: Transfer.self, step: "record-debit")
        let credit = try await send(
            Account.Command.credit(transfer: transfer.rawValue, amount: requested.amount), to: to, as: Account.self,
            step: "credit")
        if credit.outcome == .accepted {
            _ = try await send(Transfer.Command.complete, to: transfer, as: Transfer.self, step: "finish")
        } else {
            _ = try await send(
                Account.Command.refund(transfer: transfer.rawValue, amount: requested.amount), to: from,
                as: Account.self, step: "refund")
            _ = try await send(
                Transfer.Command.compensate(reason: credit.reason ?? "rejected"), to: transfer, as: Transfer.self,
                step: "finish")
        }
    }
}
