import Foundation

/// Shows a phase's progress on standard error: a live line on a terminal, a plain line every few seconds otherwise.
struct ProgressLine: Sendable {
    let isEnabled: Bool
    private let isTerminal: Bool
    private var phase = ""
    private var total = 0
    private var start = ContinuousClock.now
    private var lastShown = ContinuousClock.now
    private var interval: Duration { isTerminal ? .milliseconds(200) : .seconds(5) }

    init(isEnabled: Bool) {
        self.isEnabled = isEnabled
        self.isTerminal = isatty(STDERR_FILENO) != 0
    }

    /// Starts a phase of `total` steps; with `keepingStart`, only changes the total of the phase under way.
    mutating func begin(phase: String, total: Int, keepingStart: Bool = false) {
        self.phase = phase
        self.total = total
        guard !keepingStart else { return }
        start = .now
        lastShown = .now
    }

    /// Records progress; shows it when the interval has passed. Cheap enough to call for every command.
    mutating func update(done: Int) {
        guard isEnabled, done & 1023 == 0 || done == total else { return }
        let now = ContinuousClock.now
        guard now - lastShown >= interval else { return }
        lastShown = now
        let seconds = (now - start).seconds
        let rate = seconds > 0 ? Double(done) / seconds : 0
        let percent = total > 0 ? 100 * done / total : 100
        let text = "\(phase): \(done)/\(total) (\(percent)%), \(Int(rate))/s"
        if isTerminal {
            StandardError.write(clearingTheLine: true, text)
        } else {
            StandardError.write("\(text)\n")
        }
    }

    /// Clears the live line at the end of a phase.
    func end() {
        if isEnabled, isTerminal { StandardError.write(clearingTheLine: true, "") }
    }
}
