/// The continuous clock, opening ``sleepStarted`` when a sleep begins and ``sleepEnded`` when a sleep ends early
/// because its task was cancelled.
struct SignallingClock: Clock {
    typealias Duration = Swift.Duration
    typealias Instant = ContinuousClock.Instant

    let sleepStarted = TestGate()
    let sleepEnded = TestGate()
    private let base = ContinuousClock()

    var now: Instant { base.now }
    var minimumResolution: Duration { base.minimumResolution }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        sleepStarted.open()
        do {
            try await base.sleep(until: deadline, tolerance: tolerance)
        } catch {
            sleepEnded.open()
            throw error
        }
    }
}
