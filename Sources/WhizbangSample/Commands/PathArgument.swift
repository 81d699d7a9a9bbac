import ArgumentParser

/// The check every file path option makes before a command opens anything.
enum PathArgument {
    /// Refuses an empty `path` given to `option`, as an argument that does not validate (exit status 64): it names
    /// no file, and taken as one it failed only at the open, with the system's words for a missing file. So is `-`,
    /// which says standard input or output, unless `dashIsStandardOutput` (export's `--output`): taken as a file's
    /// name, it was made in the working directory, or "cannot read -" said that no such file exists.
    static func check(_ path: String?, option: String, naming what: String, dashIsStandardOutput: Bool = false) throws {
        guard let path else { return }
        if path.isEmpty { throw ValidationError("\(option) is empty: give \(what)") }
        if path == "-", !dashIsStandardOutput {
            throw ValidationError(
                "\(option) - would be standard input or output, which \(option) does not take: give \(what) (./- "
                    + "for a file named -)")
        }
    }
}
