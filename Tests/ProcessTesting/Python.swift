/// Python programs that tests run as other applications would: writing an SQLite file their own way, or holding a
/// file open or locked while a test checks what the sample does beside them.
public enum Python {
    /// Runs `script` with `python3 -c` and `arguments` (its `sys.argv[1...]`) to its exit.
    public static func run(_ script: String, _ arguments: [String]) async throws -> ProcessOutput {
        try await ProcessOutput.run("/usr/bin/env", ["python3", "-c", script] + arguments)
    }

    /// Starts `script` with `python3 -c` and `arguments`, for a test that reads its output and signals it.
    public static func start(_ script: String, _ arguments: [String]) async throws -> ChildProcess {
        try await ChildProcess.start("/usr/bin/env", ["python3", "-c", script] + arguments)
    }

    /// Lines that end a holder's script: wait for the test's SIGTERM, and at most two minutes, so that a holder whose
    /// test failed before signalling it does not outlive it for long.
    public static let untilTerminated = """
        import signal
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
        signal.sigtimedwait([signal.SIGTERM], 120)

        """
}
