extension ProjectionRunner {
    /// Returns once the projection has applied every event through `position`, and then every event appended
    /// before it got there, until a look at the store's head finds nothing it has not applied.
    ///
    /// For a process manager this means: it has handled the events through `position`, the commands it sent for
    /// them have completed (a process manager's batch ends only when its commands have returned), and it has handled
    /// the events those commands recorded, and so on until the conversation comes to rest. Tests wait for this
    /// condition instead of for time.
    ///
    /// The wait ends when the condition holds, or fails: it never waits for a runner that has stopped. While other
    /// writers keep appending, it follows them until the head stays put once.
    ///
    /// - Throws: ``ProjectionError/Code/stopped`` if the runner stops (returns or throws) before it gets there;
    ///   ``ProjectionError/Code/reentrantWait`` when called from inside the runner's own work
    ///   (``waitUntilApplied(through:)``);
    ///   `CancellationError` if the calling task is cancelled; the store's error if reading the head fails.
    public func settled(upTo position: UInt64) async throws {
        var target = position
        while true {
            try await waitUntilApplied(through: target)
            let head = try await store.headPosition()
            if head <= target { return }
            target = head
        }
    }

    /// Returns once the projection has applied every event in the store, including the events appended while it
    /// caught up (for a process manager, those its own commands recorded): ``settled(upTo:)`` from the current head.
    ///
    /// - Throws: as ``settled(upTo:)``.
    public func waitUntilCaughtUp() async throws {
        try await settled(upTo: try await store.headPosition())
    }
}
