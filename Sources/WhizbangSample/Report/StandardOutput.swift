import Foundation

/// The sample's results on standard output: a command whose output could not be written (a full disk, a closed
/// pipe, `/dev/full`) has failed, since a script that reads it gets nothing.
enum StandardOutput {
    /// Flushes the buffered output (standard output's among it); if that fails, says so on standard error and exits
    /// with status 1.
    static func exitIfUnwritten() {
        errno = 0
        guard fflush(nil) != 0 else { return }
        let reason = errno == 0 ? "a write failed" : String(cString: strerror(errno))
        FileHandle.standardError.write(Data("error: cannot write standard output: \(reason)\n".utf8))
        Foundation.exit(1)
    }
}
