import Foundation
import WhizbangStore

/// The name a path has once the file system has followed it, for telling when two paths name one file, even one not
/// made yet.
enum ResolvedPath {
    /// `path` with every symbolic link and `.` or `..` in it resolved as the file system does (a `..` after a link
    /// leaves the directory the link names), and the file itself too when it is a link: the name the file has, or
    /// would have once created.
    static func of(_ path: String) -> String {
        if let real = realPath(path) { return real }
        let parts = PathParts(path)
        guard let directory = realPath(parts.directory) else {
            return URL(fileURLWithPath: path).standardizedFileURL.path
        }
        return directory == "/" ? "/" + parts.name : directory + "/" + parts.name
    }

    /// `realpath(3)` of `path`, or `nil` when it names nothing.
    private static func realPath(_ path: String) -> String? {
        guard let real = realpath(path, nil) else { return nil }
        defer { free(real) }
        return String(cString: real)
    }

    /// Whether `first` and `second` name the same file, or would once it is made, by their resolved names.
    static func sameFile(_ first: String, _ second: String) -> Bool {
        of(first) == of(second)
    }
}
