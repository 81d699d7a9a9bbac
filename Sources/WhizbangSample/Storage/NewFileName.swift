import CWhizbangSQLite
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Gives a finished temporary file the name it was written for, never replacing what is at that name: with a hard
/// link, or, on a file system without them (vfat, exFAT), with a rename that fails rather than replace a file
/// (`renameat2` with `RENAME_NOREPLACE`, `renamex_np` with `RENAME_EXCL`). A plain rename would replace a file that
/// appeared after any check, so where the file system has neither, the file is not named.
enum NewFileName {
    /// Names `temporary` `path`; on success `temporary` is gone.
    ///
    /// - Returns: 0, or the `errno` of the failure: `EEXIST` when something is at `path`; `ENOTSUP` when the file
    ///   system can neither link nor rename without replacing.
    static func give(_ temporary: String, name path: String) -> Int32 {
        if link(temporary, path) == 0 {
            unlink(temporary)
            return 0
        }
        let linkError = errno
        guard linkError == EPERM || linkError == ENOTSUP || linkError == EOPNOTSUPP else { return linkError }
        if whizbang_rename_noreplace(temporary, path) == 0 { return 0 }
        let renameError = errno
        if renameError == EINVAL || renameError == ENOSYS || renameError == EOPNOTSUPP { return ENOTSUP }
        return renameError
    }

    /// What a failure of ``give(_:name:)`` means, for a message.
    static func describe(_ code: Int32) -> String {
        code == ENOTSUP
            ? "the file system has neither hard links nor a rename that never replaces a file"
            : String(cString: strerror(code))
    }
}
