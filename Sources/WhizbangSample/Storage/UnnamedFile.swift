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
    /// Opens a new unnamed file for reading and writing in `directory`, with `mode`; `nil` where that is not possible
    /// here.
    static func create(in directory: String, mode: mode_t) -> Int32? {
        #if os(Linux) && (arch(x86_64) || arch(arm64))
        // Glibc's O_TMPFILE (`__O_TMPFILE | O_DIRECTORY`) is a macro Swift does not import; `__O_TMPFILE` is
        // 020000000 on both architectures, and O_DIRECTORY, which differs between them, comes from Glibc.
        let temporaryFile: Int32 = 0o20000000 | O_DIRECTORY
        guard access("/proc/self/fd", X_OK) == 0 else { return nil }
        let descriptor = open(directory, temporaryFile | O_RDWR | O_CLOEXEC, mode)
        return descriptor >= 0 ? descriptor : nil
        #else
        return nil
        #endif
    }

    /// Gives the unnamed file open at `descriptor` the name `path`, never replacing what is there.
    ///
    /// - Returns: 0, or the `errno` of the failure: `EEXIST` when something is at `path`; `EPERM`, `ENOTSUP` or
    ///   `EOPNOTSUPP` where the file system makes no hard links (see ``copy(_:to:)``).
    static func name(_ descriptor: Int32, _ path: String) -> Int32 {
        #if os(Linux)
        linkat(AT_FDCWD, "/proc/self/fd/\(descriptor)", AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0 ? 0 : errno
        #else
        ENOTSUP
        #endif
    }

    /// Whether ``name(_:_:)`` failed for want of hard links, so that the file can only be copied to a name.
    static func lacksLinks(_ code: Int32) -> Bool {
        code == EPERM || code == ENOTSUP || code == EOPNOTSUPP
    }

    /// Copies the whole unnamed file open at `descriptor` into the file open at `copy`, and syncs the copy: for a
    /// file system that makes unnamed files but no hard links, where a named copy is the only way to a name.
    ///
    /// - Returns: 0, or the `errno` of the failure.
    static func copy(_ descriptor: Int32, to copy: Int32) -> Int32 {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: off_t = 0
        while true {
            let read = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, offset) }
            if read < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if read == 0 { break }
            var written = 0
            while written < read {
                let count = buffer.withUnsafeBytes { write(copy, $0.baseAddress! + written, read - written) }
                if count < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                written += count
            }
            offset += off_t(read)
        }
        return fsync(copy) == 0 ? 0 : errno
    }
}
