public import ServiceLifecycle

extension SQLiteEventStore: Service {
    /// Keeps the store open until graceful shutdown (or cancellation), then closes it.
    ///
    /// Run the store in a `ServiceGroup` after the services that use it (the dispatcher, projection runners), so that
    /// at shutdown they finish their commands and save their checkpoints before the store closes: a service group
    /// shuts its services down in reverse order. Closing commits the appends already queued.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }
}
