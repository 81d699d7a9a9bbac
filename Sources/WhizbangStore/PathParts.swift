import Foundation

/// A file path split where the kernel splits it: the directory is the text before the last `/`, with `..` and
/// symbolic links in it left for the kernel to follow; a relative path is taken from the working directory, so that
/// two spellings of one path (`ledger.sqlite`, `/work/ledger.sqlite`) give the same directory text.
///
/// Foundation's `URL(fileURLWithPath:).deletingLastPathComponent()` drops `link/..` from the text, which names another
/// directory when `link` is a symbolic link: a temporary file made beside the target would land elsewhere (on
/// another file system, where the final link or rename fails), and the directory synced would not be the target's.
package struct PathParts: Sendable, Equatable {
    /// The directory, absolute (`/` for a name at the root), or starting with `.` for a relative path in a working
    /// directory that no longer exists.
    package let directory: String
    /// The last component.
    package let name: String

    /// Splits `path`; trailing slashes are not part of the last component. A relative path in a working directory
    /// that no longer exists (its name cannot be read) is taken from `.`, where nothing can be made: without the
    /// name, it would have been taken from the root directory.
    package init(_ path: String) {
        let workingDirectory = FileManager.default.currentDirectoryPath
        let absolute = path.hasPrefix("/") ? path : (workingDirectory.isEmpty ? "." : workingDirectory) + "/" + path
        var text = Substring(absolute)
        while text.count > 1, text.hasSuffix("/") { text.removeLast() }
        guard let slash = text.lastIndex(of: "/") else {
            directory = "/"
            name = String(text)
            return
        }
        let head = text[..<slash]
        directory = head.isEmpty ? "/" : String(head)
        name = String(text[text.index(after: slash)...])
    }

    /// The path of `name` in the same directory.
    package func sibling(_ name: String) -> String {
        directory == "/" ? "/" + name : directory + "/" + name
    }
}
