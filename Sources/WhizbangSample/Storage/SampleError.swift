/// An error the sample reports as one line and a non-zero exit status.
struct SampleError: Error, CustomStringConvertible {
    let description: String
    /// The exit status: 1 for a failure, 2 for a refusal (nothing was touched). Arguments that do not parse or
    /// validate exit with ArgumentParser's 64 instead.
    let exitStatus: Int32
    /// A line said after the error, on what may have caused it (`note: …`).
    var note: String?
    /// Whether the error is what a read of the log met in it (an event that does not decode, a log that ended before
    /// its head), rather than a refusal or a failure of something else: such a read of an SQLite ledger with other
    /// names gets ``SampleDatabase/otherNamesNote(_:)``.
    var isLogRead = false

    init(_ description: String, exitStatus: Int32 = 1, note: String? = nil) {
        self.description = description
        self.exitStatus = exitStatus
        self.note = note
    }

    /// A refusal (exit status 2) of what a read met in the file (not a store, or not one this version reads),
    /// ``isLogRead``: read by one name while a writer uses another, a store can look like neither.
    static func logReadRefusal(_ description: String) -> SampleError {
        var error = SampleError.refusal(description)
        error.isLogRead = true
        return error
    }

    /// A failure met in the log as it was read (exit status 1), ``isLogRead``.
    static func logRead(_ description: String) -> SampleError {
        var error = SampleError(description)
        error.isLogRead = true
        return error
    }

    /// A refusal: the command found something it must not change, changed nothing, and exits with status 2.
    static func refusal(_ description: String) -> SampleError {
        SampleError(description, exitStatus: 2)
    }
}
