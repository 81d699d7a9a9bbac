#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

/// The sample's results on standard output: a command whose output could not be written (a full disk, a closed
/// pipe, `/dev/full`) has failed, since a script that reads it gets nothing.
enum StandardOutput {
    /// Prints `text` and a line feed, its control characters as escapes (``TerminalText``): for lines that quote the
    /// log, such as a stream id or an event's data.
    static func line(_ text: String) {
        print(TerminalText.safe(text))
    }

    /// Flushes standard output; if that or any earlier write to it failed (the C library drops the bytes of a failed
    /// flush and only marks the stream), says so on standard error and exits with status 1.
    ///
    /// Called once the command is done, from the one thread that still writes.
    static func exitIfUnwritten() {
        errno = 0
        let flushed = fflush(stdout) == 0
        let reason = errno == 0 ? "a write failed" : String(cString: strerror(errno))
        guard !flushed || ferror(stdout) != 0 else { return }
        let message = Array("error: cannot write standard output: \(reason)\n".utf8)
        _ = message.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        exit(1)
    }
}
