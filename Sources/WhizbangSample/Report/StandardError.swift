#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes to standard error without ever stopping the process.
///
/// `FileHandle.write(_:)` traps when the write fails: with standard error on a full disk or `/dev/full`, an error
/// message or a progress line would end the command with a crash (exit 132) in place of its own status, in the
/// middle of an import or an export. Messages are best effort: a failed write is dropped. (A pipe whose reader has
/// gone raises SIGPIPE, which the commands that install ``StopSignal`` take as a request to stop.)
enum StandardError {
    /// Writes `text` whole, or as much of it as standard error takes, its control characters as escapes
    /// (``TerminalText``); with `clearingTheLine`, after the terminal's own sequence that returns to the start of the
    /// line and clears it (the progress line).
    static func write(clearingTheLine: Bool = false, _ text: String) {
        var bytes = Array(((clearingTheLine ? "\r\u{1B}[K" : "") + TerminalText.safe(text, endingLine: true)).utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                #if canImport(Glibc)
                let written = Glibc.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                #else
                let written = Darwin.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                #endif
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }
}
