import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file made without a name in a directory (Linux `O_TMPFILE`), named only once it is whole: a process killed while
/// writing it leaves nothing behind, since the kernel frees a file that has no name when its last descriptor closes.
///
/// Where the platform or the file system has no such files, or `/proc` is not mounted (naming one goes through
/// `/proc/self/fd`), ``create(in:mode:)`` returns `nil`, and the caller writes a named temporary file instead.
enum UnnamedFile {
    /// Opens a new unnamed file for writing in `directory`, with `mode`; `nil` where that is not possible here.
    static func create(in directory: String, mode: mode_t) -> Int32? {
        #if os(Linux) && (arch(x86_64) || arch(arm64))
        // Glibc's O_TMPFILE (`__O_TMPFILE | O_DIRECTORY`) is a macro Swift does not import; `__O_TMPFILE` is
        // 020000000 on both architectures, and O_DIRECTORY, which differs between them, comes from Glibc.
        let temporaryFile: Int32 = 0o20000000 | O_DIRECTORY
        guard access("/proc/self/fd", X_OK) == 0 else { return nil }
        let descriptor = open(directory, temporaryFile | O_WRONLY | O_CLOEXEC, mode)
        return descriptor >= 0 ? descriptor : nil
        #else
        return nil
        #endif
    }

    /// Gives the unnamed file open at `descriptor` the name `path`, never replacing what is there.
    ///
    /// - Returns: 0, or the `errno` of the failure: `EEXIST` when something is at `path`.
    static func name(_ descriptor: Int32, _ path: String) -> Int32 {
        #if os(Linux)
        linkat(AT_FDCWD, "/proc/self/fd/\(descriptor)", AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0 ? 0 : errno
        #else
        ENOTSUP
        #endif
    }
}
