import Foundation
import WhizbangStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
// In this module, Glibc's `struct stat` is owned by the clang module that first includes its header: Dispatch's.
#if canImport(CDispatch)
import CDispatch
#endif

/// Where an export writes: a temporary file in the target's directory, put at the target's path only once the whole
/// log is written and fsynced, or standard output.
///
/// The temporary file has no name where the system allows it (``UnnamedFile``), so an export killed at any moment
/// leaves nothing; elsewhere it is a hidden file beside the target, which a failed or interrupted export removes (and
/// a later export, when it was killed: ``removeAbandoned(for:)``). So the target path never holds part of a log.
/// Unless it may replace the target, the export never replaces a file that appeared at the target's path while it
/// ran; when it may, it replaces only an earlier export (a regular file whose first line is an exported event).
final class ExportFile {
    /// The path the export is for, or `-` for standard output.
    let target: String
    /// Whether the export may replace an earlier export at ``target`` (`--force`).
    let replacing: Bool
    private var temporary: Temporary
    private let handle: FileHandle
    /// A named copy of an unnamed temporary file (``copyToName(_:)``), open until the export ends.
    private var copyDescriptor: Int32 = -1
    private var isFinished = false

    /// What the export writes to until it commits.
    private enum Temporary {
        case standardOutput
        /// A file without a name, which the commit names.
        case unnamed
        /// A hidden file beside the target, named `.<name>.<8 hex digits>.partial`.
        case named(String)
    }

    /// Creates the temporary file in the target's directory (or uses standard output for `-`).
    init(target: String, replacing: Bool) throws {
        self.target = target
        self.replacing = replacing
        guard target != "-" else {
            temporary = .standardOutput
            handle = FileHandle.standardOutput
            return
        }
        let parts = PathParts(target)
        // Readable by its owner only, as the store is: an export holds every event and its metadata.
        let descriptor: Int32
        if let unnamed = UnnamedFile.create(in: parts.directory, mode: 0o600) {
            descriptor = unnamed
            temporary = .unnamed
        } else {
            let path = Self.temporaryName(for: parts)
            descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else {
                throw SampleError("cannot create a file beside \(target): \(String(cString: strerror(errno)))")
            }
            temporary = .named(path)
        }
        // Held while the export runs (also on an unnamed file, which a replacing commit names for a moment): a later
        // export takes only an unlocked file for one that was killed.
        _ = flock(descriptor, LOCK_EX | LOCK_NB)
        handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    }

    /// A new name for a temporary file beside the target.
    private static func temporaryName(for parts: PathParts) -> String {
        parts.sibling(".\(parts.name).\(UUID().uuidString.prefix(8)).partial")
    }

    /// Removes what exports to `target` left when their process was killed: files beside it named
    /// `.<name>.<8 hex digits>.partial` that are regular files, that no export holds locked, and whose first line is
    /// an exported event (or the end line of an export of an empty log). Anything else is left alone (an empty one
    /// too: nothing in it says it is an export's).
    ///
    /// - Returns: The paths removed.
    static func removeAbandoned(for target: String) -> [String] {
        guard target != "-" else { return [] }
        let parts = PathParts(target)
        let prefix = ".\(parts.name)."
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: parts.directory) else { return [] }
        var removed: [String] = []
        for name in names.sorted() where name.hasPrefix(prefix) && name.hasSuffix(".partial") {
            let middle = name.dropFirst(prefix.count).dropLast(".partial".count)
            guard middle.count == 8, middle.allSatisfy(\.isHexDigit) else { continue }
            let path = parts.sibling(name)
            guard PathKind(path) == .regularFile else { continue }
            // Without O_NONBLOCK, opening a FIFO would wait for a writer.
            let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
            guard descriptor >= 0 else { continue }
            defer { close(descriptor) }
            guard flock(descriptor, LOCK_EX | LOCK_NB) == 0, startsAsExport(descriptor) else { continue }
            if unlink(path) == 0 { removed.append(path) }
        }
        return removed
    }

    /// Whether the regular file at `path` (a link is not followed) is an export: its first line is an exported event,
    /// or the end line of an export of an empty log. `export --force` replaces nothing else.
    static func holdsExport(_ path: String) -> Bool {
        guard PathKind(path) == .regularFile else { return false }
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return startsAsExport(descriptor)
    }

    /// Whether the file open at `descriptor` starts with an export's first line (read up to its first 16 MiB).
    private static func startsAsExport(_ descriptor: Int32) -> Bool {
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: false)
        var head = Data()
        while head.count < 16 << 20 {
            guard let chunk = try? handle.read(upToCount: 64 << 10), !chunk.isEmpty else { break }
            head.append(chunk)
            if chunk.contains(UInt8(ascii: "\n")) { break }
        }
        guard var line = head.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).first else {
            return false
        }
        // Lines may end with CRLF, as import reads them.
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        return (try? JSONDecoder().decode(ExportedEvent.self, from: Data(line))) != nil
            || (try? JSONDecoder().decode(ExportEnd.self, from: Data(line)).encoded()) == Data(line)
    }

    /// The refusal of a file at `target` that `--force` may not replace, because nothing in it says it is an export.
    static func notAnExport(_ target: String, while running: Bool = false) -> SampleError {
        SampleError.refusal(
            "\(target) \(running ? "became a file that is not an export while the export ran" : "is not an export") "
                + "(its first line is not an exported event); export --force replaces only an earlier export, and "
                + "left it alone: give --output another path")
    }

    deinit {
        discard()
    }

    /// Appends bytes.
    func write(_ bytes: Data) throws {
        do {
            try handle.write(contentsOf: bytes)
        } catch {
            throw SampleError(
                "cannot write \(target == "-" ? "standard output" : target): \(FileWriteFailure.describe(error))")
        }
    }

    /// Makes the written bytes durable and puts them at the target path: replacing an earlier export there when
    /// ``replacing`` (``holdsExport(_:)``), otherwise only if nothing is there.
    ///
    /// - Throws: a refusal (exit status 2) when the path holds what the export may not replace: anything, without
    ///   ``replacing``; anything but an earlier export, with it. The target is then left as it is.
    func commit() throws {
        if case .standardOutput = temporary {
            isFinished = true
            return
        }
        guard fsync(handle.fileDescriptor) == 0 else {
            throw SampleError("cannot write \(target): fsync failed: \(String(cString: strerror(errno)))")
        }
        // Put in place while the descriptor, and so the lock, is held: a later export never takes the temporary
        // file for a leftover.
        if replacing {
            switch PathKind(target) {
            case .absent:
                break
            case .regularFile:
                // Looked at again: a ledger or another program's file may have been made at the path meanwhile.
                guard Self.holdsExport(target) else { throw Self.notAnExport(target, while: true) }
            case .symbolicLink, .directory, .other:
                throw SampleError.refusal(
                    "\(target) became something other than a regular file while the export ran; export replaces only "
                        + "a regular file, and left it alone")
            }
            // A replaced file keeps its permissions: an export is not to widen who may read it.
            if let mode = (try? FileManager.default.attributesOfItem(atPath: target))?[.posixPermissions] as? NSNumber {
                _ = fchmod(handle.fileDescriptor, mode_t(mode.uint16Value))
            }
            // Only a name can be renamed over the target: an unnamed file gets a hidden one first (a kill between
            // the two steps leaves a whole export there, which a later export removes).
            if case .unnamed = temporary {
                let path = Self.temporaryName(for: PathParts(target))
                var code = UnnamedFile.name(handle.fileDescriptor, path)
                if UnnamedFile.lacksLinks(code) { code = copyToName(path) }
                guard code == 0 else { throw SampleError("cannot write \(target): \(String(cString: strerror(code)))") }
                temporary = .named(path)
            }
            guard case .named(let path) = temporary, rename(path, target) == 0 else {
                throw SampleError("cannot write \(target): \(String(cString: strerror(errno)))")
            }
        } else {
            // Never a plain rename, which would replace what appeared at the path.
            if case .unnamed = temporary {
                let code = UnnamedFile.name(handle.fileDescriptor, target)
                if UnnamedFile.lacksLinks(code) {
                    // Without hard links, a named copy is given the name with a rename that never replaces.
                    let path = Self.temporaryName(for: PathParts(target))
                    let copied = copyToName(path)
                    guard copied == 0 else {
                        throw SampleError("cannot write \(target): \(String(cString: strerror(copied)))")
                    }
                    temporary = .named(path)
                } else if code != 0 {
                    throw Self.cannotName(target, code)
                }
            }
            if case .named(let path) = temporary {
                let code = NewFileName.give(path, name: target)
                guard code == 0 else { throw Self.cannotName(target, code) }
            }
        }
        try? handle.close()
        closeCopy()
        isFinished = true
        // The rename is durable once the directory is.
        let directory = open(PathParts(target).directory, O_RDONLY | O_CLOEXEC)
        if directory >= 0 {
            _ = fsync(directory)
            _ = close(directory)
        }
    }

    /// The failure to give the written file the target's name: a refusal when something is there (`EEXIST`).
    private static func cannotName(_ target: String, _ code: Int32) -> SampleError {
        if code == EEXIST {
            return SampleError.refusal(
                "\(target) appeared while the export ran; export leaves it alone: give --output another path, or "
                    + "--force to replace it")
        }
        return SampleError("cannot write \(target): \(NewFileName.describe(code))")
    }

    /// Copies the unnamed file to a new hidden file `path` beside the target, where the file system makes no hard
    /// links; the copy is removed if it fails.
    ///
    /// - Returns: 0, or the `errno` of the failure.
    private func copyToName(_ path: String) -> Int32 {
        var status = stat()
        let mode = fstat(handle.fileDescriptor, &status) == 0 ? status.st_mode & 0o7777 : 0o600
        let copy = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard copy >= 0 else { return errno }
        // Locked as an export's own file (until the export ends), so that no other export takes it for a killed
        // one's; with the permissions the export gave its file.
        _ = flock(copy, LOCK_EX | LOCK_NB)
        _ = fchmod(copy, mode)
        copyDescriptor = copy
        let code = UnnamedFile.copy(handle.fileDescriptor, to: copy)
        if code != 0 { unlink(path) }
        return code
    }

    private func closeCopy() {
        if copyDescriptor >= 0 { close(copyDescriptor) }
        copyDescriptor = -1
    }

    /// Removes the temporary file, unless the export was committed; calling it again does nothing.
    func discard() {
        guard !isFinished else { return }
        isFinished = true
        closeCopy()
        switch temporary {
        case .standardOutput:
            return
        case .unnamed:
            // The kernel frees it with its last descriptor.
            try? handle.close()
        case .named(let path):
            try? handle.close()
            unlink(path)
        }
    }
}
