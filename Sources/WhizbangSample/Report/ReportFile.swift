import Foundation
import WhizbangStore

/// Writes a report to a path that must not exist yet: a report never replaces a file, since nothing proves the file
/// there is one this program wrote.
///
/// The text goes to a temporary file beside the target, which is then hard-linked to the target name — an atomic
/// step that fails if the name exists, even if a file appeared there during the run — and the temporary name is
/// removed. So the target is either absent or the whole report, and a file that was there is never touched. A file
/// that appeared at the target while the command ran keeps its place: the report goes beside it, as `name-1.html`
/// (the first free number), and the command exits 1 saying where.
enum ReportFile {
    /// Throws (exit status 2) if `path` exists, names a directory (a trailing slash) or its directory cannot take a
    /// new file, so that a run does not start only to find it cannot save its report.
    static func checkAbsent(_ path: String) throws {
        // A trailing slash names a directory; the report would otherwise be written to a file of that name.
        guard !path.hasSuffix("/") else {
            throw SampleError.refusal("--report: \(path) names a directory; a report is one HTML file: name the file")
        }
        if PathKind(path) != .absent { throw exists(path) }
        let directory = PathParts(path).directory
        guard access(directory, W_OK | X_OK) == 0 else {
            throw SampleError.refusal("--report: cannot create \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Writes `text` to `path`, which must not exist; the file is whole or absent, and an existing one is untouched.
    static func write(_ text: String, to path: String) throws {
        let parts = PathParts(path)
        // A path, not a URL: a URL would resolve a relative `link/..` on its text, not as the kernel does.
        let temporary = parts.sibling(".\(parts.name).\(UUID().uuidString).partial")
        // Written here rather than by Foundation, whose atomic write goes through a temporary file of its own that
        // a killed process would leave under a name nothing can tell from another program's.
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw SampleError("cannot write the report beside \(path): \(String(cString: strerror(errno)))")
        }
        defer { unlink(temporary) }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            try handle.write(contentsOf: Data(text.utf8))
            try handle.synchronize()
            try handle.close()
        } catch {
            throw SampleError("cannot write the report beside \(path): \(FileWriteFailure.describe(error))")
        }
        let code = NewFileName.give(temporary, name: path)
        guard code == 0 else {
            guard code == EEXIST else {
                throw SampleError("cannot write the report \(path): \(NewFileName.describe(code))")
            }
            // The path was free when the command began (checkAbsent): the work is done, and the report is not
            // thrown away for want of its name. It goes beside it under the first free one, never replacing a file.
            let dot = parts.name.lastIndex(of: ".").flatMap { $0 == parts.name.startIndex ? nil : $0 }
            let stem = dot.map { String(parts.name[..<$0]) } ?? parts.name
            let suffix = dot.map { String(parts.name[$0...]) } ?? ""
            for number in 1...99 {
                let other = parts.sibling("\(stem)-\(number)\(suffix)")
                let placed = NewFileName.give(temporary, name: other)
                if placed == 0 {
                    throw SampleError(
                        "--report: \(path) appeared while the command ran, and a report never replaces a file; the "
                            + "command's work is done, and its report is at \(other)", exitStatus: 1)
                }
                guard placed == EEXIST else { break }
            }
            throw SampleError(
                "--report: \(path) appeared while the command ran, and a report never replaces a file; the command's "
                    + "work is done, but its report was not saved", exitStatus: 1)
        }
    }

    /// The refusal of a report path that exists before the command begins.
    private static func exists(_ path: String) -> SampleError {
        SampleError(
            "--report: \(path) exists; a report never replaces a file — remove it or name another", exitStatus: 2)
    }
}
