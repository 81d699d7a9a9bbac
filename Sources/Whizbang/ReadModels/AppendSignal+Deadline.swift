extension AppendSignal {
    /// Waits until the head passes `position` or `deadline` comes, whichever is first.
    ///
    /// - Returns: `true` when the head passed `position`, `false` at the deadline.
    /// - Throws: `CancellationError`, or ``EventStoreError/Code/closed`` after ``close()``.
    package func wait(after position: UInt64, until deadline: ContinuousClock.Instant) async throws -> Bool {
        if head > position { return true }
        return try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { [self] in
                try await wait(after: position)
                return true
            }
            group.addTask {
                try await Task.sleep(until: deadline, clock: .continuous)
                return false
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { return false }
            return first
        }
    }
}
