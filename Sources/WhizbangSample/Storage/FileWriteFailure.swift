import Foundation

/// Words for a failed file write that name its cause.
///
/// Foundation's `FileHandle` reports some system errors (a file past the size limit, `EFBIG`, for one) only as
/// "The operation could not be completed", with the system's error kept underneath; this takes that one out.
enum FileWriteFailure {
    /// The system's description of the error under `error` and its number, or the error's own description.
    static func describe(_ error: any Error) -> String {
        if let posix = error as? POSIXError { return text(errno: posix.code.rawValue) }
        let nsError = error as NSError
        if nsError.domain == NSPOSIXErrorDomain { return text(errno: Int32(nsError.code)) }
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError,
            underlying.domain == NSPOSIXErrorDomain
        {
            return text(errno: Int32(underlying.code))
        }
        return error.localizedDescription
    }

    private static func text(errno code: Int32) -> String {
        "\(String(cString: strerror(code))) (errno \(code))"
    }
}
