import Synchronization
import Whizbang

/// The commands of one phase of a ``WorkloadRun``, shared by a fixed set of worker tasks: each worker runs a command,
/// records its outcome, and takes the next one itself.
///
/// A task per command, joined by one admitting loop, hands every command between threads three times (the writer
/// resumes the command's task, the task ends, the loop wakes to record it and admit the next); a worker that takes
/// its next command itself leaves one. Admission is unchanged: commands enter an ``OrderedWindow`` in sequence order
/// while it has room, so the outcome is still that of a one-at-a-time run. A worker with nothing to start (the
/// window is full of commands waiting for an account) parks, and is handed a command when one becomes startable; once
/// the commands are exhausted (or a stop was asked for), idle workers end and the last commands are run by the
/// workers that free them.
///
/// Every worker ends: the last command finishing, a failed command or outcome, and cancellation each wake the parked
/// ones.
final class WorkloadWorkers<Store: EventStore>: Sendable {
    typealias Job = WorkloadRun<Store>.Job
    typealias JobResult = WorkloadRun<Store>.JobResult

    /// What a worker does next.
    private enum Step {
        case run(Int, Job)
        case park
        case end
    }

    private struct State {
        var window: OrderedWindow
        var jobs: AnyIterator<Job>
        var recorder: WorkloadRecorder
        /// Admitted jobs that wait for an earlier job on one of their accounts, by sequence.
        var waiting: [Int: Job] = [:]
        /// Waiting jobs that may start now, in sequence order, not yet taken by a worker.
        var startable: [Int] = []
        var nextSequence = 0
        /// No job is admitted any more: the sequence ended, a stop was asked for, a job failed, or the run was
        /// cancelled.
        var isExhausted = false
        var failure: (any Error)?
        var parked: [UnsafeContinuation<(Int, Job)?, Never>] = []

        /// The next job a worker may start, admitting new ones while the window has room.
        mutating func nextJob(stopRequested: () -> Bool) -> (Int, Job)? {
            guard failure == nil else { return nil }
            if !startable.isEmpty {
                let sequence = startable.removeFirst()
                return (sequence, waiting.removeValue(forKey: sequence)!)
            }
            while !isExhausted, window.hasRoom {
                guard !stopRequested(), let job = jobs.next() else {
                    isExhausted = true
                    break
                }
                let sequence = nextSequence
                nextSequence += 1
                if window.admit(sequence, keys: job.keys) { return (sequence, job) }
                waiting[sequence] = job
            }
            return nil
        }

        /// Hands startable jobs to parked workers, and ends the parked workers once no job can reach them; returns
        /// the continuations to resume, with what to resume them with.
        mutating func wakeParked(stopRequested: () -> Bool) -> [(UnsafeContinuation<(Int, Job)?, Never>, (Int, Job)?)] {
            var wakes: [(UnsafeContinuation<(Int, Job)?, Never>, (Int, Job)?)] = []
            while !parked.isEmpty, let job = nextJob(stopRequested: stopRequested) {
                wakes.append((parked.removeLast(), job))
            }
            if isExhausted {
                // The workers that are running take the jobs their commands free.
                wakes += parked.map { ($0, nil) }
                parked.removeAll()
            }
            return wakes
        }
    }

    private let state: Mutex<State>
    private let stopRequested: @Sendable () -> Bool

    init<Jobs: Sequence<Job>>(
        _ jobs: sending Jobs, limit: Int, recorder: WorkloadRecorder, stopRequested: @escaping @Sendable () -> Bool
    ) {
        var iterator = jobs.makeIterator()
        state = Mutex(
            State(window: OrderedWindow(limit: limit), jobs: AnyIterator { iterator.next() }, recorder: recorder))
        self.stopRequested = stopRequested
    }

    /// What the workers recorded; read after every worker has ended.
    var recorder: WorkloadRecorder { state.withLock { $0.recorder } }

    /// Runs jobs with `perform` until none is left for this worker; throws the first error of any worker's job or
    /// outcome.
    func work(_ perform: (Int, Job) async throws -> JobResult) async throws {
        var next = await take(after: nil)
        while let (sequence, job) = next {
            let result: JobResult
            do {
                result = try await perform(sequence, job)
            } catch {
                fail(error)
                throw error
            }
            next = await take(after: result)
        }
        if let failure = state.withLock({ $0.failure }) { throw failure }
    }

    /// Records `result` (if any) and returns the next job for the calling worker, parking it until one is startable;
    /// `nil` when the worker should end.
    private func take(after result: JobResult?) async -> (Int, Job)? {
        let stopRequested = self.stopRequested
        let (step, wakes) = state.withLock { state -> (Step, [(UnsafeContinuation<(Int, Job)?, Never>, (Int, Job)?)]) in
            if let result, state.failure == nil {
                do {
                    try state.recorder.record(result)
                    state.startable += state.window.finish(result.sequence)
                    state.startable.sort()
                } catch {
                    state.failure = error
                    state.isExhausted = true
                }
            }
            guard state.failure == nil else {
                state.isExhausted = true
                return (.end, state.wakeParked(stopRequested: stopRequested))
            }
            let step: Step =
                if let (sequence, job) = state.nextJob(stopRequested: stopRequested) {
                    .run(sequence, job)
                } else {
                    state.isExhausted ? .end : .park
                }
            return (step, state.wakeParked(stopRequested: stopRequested))
        }
        for (continuation, job) in wakes { continuation.resume(returning: job) }
        switch step {
        case .run(let sequence, let job): return (sequence, job)
        case .end: return nil
        case .park: return await park()
        }
    }

    /// Waits until a job is handed to this worker, or until no job can reach it (then `nil`).
    private func park() async -> (Int, Job)? {
        let stopRequested = self.stopRequested
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { continuation in
                let immediate = state.withLock { state -> (Int, Job)?? in
                    if let job = state.nextJob(stopRequested: stopRequested) { return .some(job) }
                    if state.isExhausted || Task.isCancelled { return .some(nil) }
                    state.parked.append(continuation)
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            cancel()
        }
    }

    /// Ends admission after a failed job and wakes every parked worker, so that the run ends with the error.
    private func fail(_ error: any Error) {
        let wakes = state.withLock { state in
            if state.failure == nil { state.failure = error }
            state.isExhausted = true
            return state.wakeParked(stopRequested: { true })
        }
        for (continuation, job) in wakes { continuation.resume(returning: job) }
    }

    /// Ends admission and wakes every parked worker: a cancelled run finishes the commands in flight and ends.
    private func cancel() {
        let wakes = state.withLock { state in
            state.isExhausted = true
            return state.wakeParked(stopRequested: { true })
        }
        for (continuation, job) in wakes { continuation.resume(returning: job) }
    }
}
