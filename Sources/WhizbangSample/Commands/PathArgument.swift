import ArgumentParser

/// The check every file path option makes before a command opens anything.
enum PathArgument {
    /// Refuses an empty `path` given to `option`, as an argument that does not validate (exit status 64): it names
    /// no file, and taken as one it failed only at the open, with the system's words for a missing file.
    static func check(_ path: String?, option: String, naming what: String) throws {
        guard let path, path.isEmpty else { return }
        throw ValidationError("\(option) is empty: give \(what)")
    }
}
