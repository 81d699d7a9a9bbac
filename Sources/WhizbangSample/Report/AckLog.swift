import Foundation
import Whizbang
import WhizbangStore

/// The acknowledgement log: one line per command whose events are durable, `<message id> <stream id>`, written
/// with one `write(2)` each so that a process killed at any moment has handed every listed line to the kernel. Its
/// first line names the ledger the acknowledgements are of (``AckLogHeader``): a log is added to, and checked
/// against, that ledger only.
final class AckLog: @unchecked Sendable {
    // Unchecked: used only by the one task that runs the command; the descriptor is never shared.
    private let descriptor: Int32
    let path: String
    /// The file this run made (the path was empty when checked), which ``removeIfUnused()`` may remove.
    private let made: FileIdentity?
    /// Whether ``acknowledge(_:)`` has been called: from then on the file is kept, whatever happens to the run.
    private var used = false
    /// The ledger the log's first line names: found there, or given by ``identifyLedger(in:)`` to a log without one.
    private var ledger: UInt64?
    /// Whether the first acknowledgement goes after a header naming ``ledger``: the log was empty when checked.
    private var writesHeader: Bool

    /// What ``check(path:start:)`` found at the path: nothing, or the file it read, with the ledger its first line
    /// names (`nil` for an empty file).
    enum Found: Sendable, Equatable {
        case absent
        case file(FileIdentity, ledger: UInt64?)
    }

    /// What the run does with its ledger, which decides the ack logs it may add to.
    enum LedgerStart: Sendable {
        /// `--keep` (or `--cluster`) on a database that holds a ledger: the log may be that ledger's.
        case kept
        /// A run without `--keep`: a new ledger replaces whatever the sample's was there.
        case fresh
        /// `option` (`--keep` or `--cluster`) given for `database`, which holds no ledger: the run starts a new one.
        case missing(option: String, database: String)
    }

    /// The ack log the current run opened before it touched its database, for the workload.
    @TaskLocal static var opened: AckLog?

    /// Opens the ack log that ``check(path:start:)`` passed. The run opens it before it touches its database, so that
    /// a path that cannot be opened (a trailing slash, a name under a regular file, a name too long, a full disk) is
    /// refused (exit status 2) while the ledger is as it was; a run that then fails before it acknowledges anything
    /// removes the file it made (``removeIfUnused()``). A file made in the path since the check (a symbolic link to
    /// another file, say) is refused, never appended to. A path found empty is created with `O_EXCL`, readable by its
    /// owner only (as the ledger is); a file found is opened without following a link and must be the one checked.
    /// The file is locked (`flock`) while the run goes on, and one that another run holds is refused.
    init(path: String, found: Found) throws {
        self.path = path
        switch found {
        case .absent:
            (ledger, writesHeader) = (nil, true)
            descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_APPEND | O_CLOEXEC, 0o600)
        case .file(_, let named):
            (ledger, writesHeader) = (named, named == nil)
            descriptor = open(path, O_WRONLY | O_NOFOLLOW | O_APPEND | O_CLOEXEC)
        }
        // Held until the run ends: two runs given the same new path would both pass the check, and the second would
        // add a header of its ledger to the first one's log. A file system without locks (some network and FUSE
        // mounts) refuses any lock: the run then goes on as before, unlocked; only a lock held elsewhere refuses.
        if descriptor >= 0, flock(descriptor, LOCK_EX | LOCK_NB) != 0, errno == EWOULDBLOCK {
            close(descriptor)
            throw SampleError.refusal(
                "the ack log \(path) is being written by another run; give --ack-log another path (the ledger was "
                    + "not touched)")
        }
        guard descriptor >= 0 else {
            let code = errno
            if code == EEXIST || code == ELOOP || code == ENOENT {
                throw SampleError.refusal(
                    "\(path) changed after the run checked it (\(String(cString: strerror(code)))); the run appends "
                        + "only to the ack log it checked, and left the path alone")
            }
            throw SampleError.refusal(
                "cannot open the ack log \(path): \(String(cString: strerror(code))); the ledger was not touched")
        }
        switch found {
        case .absent:
            made = FileIdentity(descriptor: descriptor)
        case .file(let identity, _):
            made = nil
            guard FileIdentity(descriptor: descriptor) == identity else {
                close(descriptor)
                throw SampleError.refusal(
                    "\(path) was replaced after the run checked it; the run appends only to the ack log it checked, "
                        + "and left the path alone")
            }
        }
    }

    /// Removes the file, if this run made it and has acknowledged nothing in it, and the path still names it: called
    /// when the run fails, so that a failure before any command leaves no ack log behind. A file that was there
    /// before the run, or that holds an acknowledgement, is kept.
    func removeIfUnused() {
        // Empty too: nothing but this run writes to it, but a file with anything in it is not removed.
        guard let made, !used, FileIdentity(atPath: path) == made, lseek(descriptor, 0, SEEK_END) == 0 else { return }
        unlink(path)
    }

    deinit { close(descriptor) }

    /// Refuses, before the run touches its database, an ack log that the run could not append to or that is not one:
    /// a path that is not a regular file (a directory, a symbolic link, a device), or a file whose first line is
    /// neither a header (``AckLogHeader``) nor an acknowledgement. A missing file is made by ``init(path:found:)``,
    /// still before the database is touched. A run that starts a new ledger (`start`) refuses an ack log that already
    /// holds acknowledgements too: they are of another ledger, and `verify` would find them missing from the new one.
    /// A run that keeps its ledger refuses one that an older version wrote, without a header: nothing says whose
    /// acknowledgements it holds. Whether the ledger a header names is the run's is the caller's to check.
    ///
    /// - Returns: What was found, for ``init(path:found:)``.
    static func check(path: String, start: LedgerStart) throws -> Found {
        // A trailing slash names a directory, which an ack log never is (as `--report` refuses one).
        guard !path.hasSuffix("/") else {
            throw SampleError.refusal("--ack-log: \(path) names a directory; an ack log is one file: name the file")
        }
        // A relative path in a working directory that no longer exists (``PathParts``) names nothing that can be made.
        guard !PathParts(path).directory.hasPrefix(".") else {
            throw SampleError.refusal(
                "cannot use the ack log \(path): the working directory no longer exists; give an absolute path")
        }
        switch PathKind(path) {
        case .absent:
            let directory = PathParts(path).directory
            guard access(directory, W_OK) == 0 else {
                throw SampleError.refusal("cannot create the ack log \(path): \(String(cString: strerror(errno)))")
            }
            return .absent
        case .regularFile:
            break
        default:
            throw SampleError.refusal(
                "\(path) is not a regular file; run appends acknowledgements only to an ack log it wrote, or makes one")
        }
        guard access(path, W_OK) == 0 else {
            throw SampleError.refusal("cannot append to the ack log \(path): \(String(cString: strerror(errno)))")
        }
        let readable = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard readable >= 0, let identity = FileIdentity(descriptor: readable) else {
            if readable >= 0 { close(readable) }
            throw SampleError("cannot read the ack log \(path)")
        }
        let handle = FileHandle(fileDescriptor: readable, closeOnDealloc: true)
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 256)) ?? Data()
        guard let firstLine = head.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).first,
            !head.isEmpty
        else { return .file(identity, ledger: nil) }
        let text = Substring(String(decoding: firstLine, as: UTF8.self))
        let named = AckLogHeader.ledger(in: text.last == "\r" ? text.dropLast() : text)
        let fields = text.split(separator: " ", maxSplits: 1)
        let cutHeader = firstLine.count == head.count && AckLogHeader.mayBeCut(text)
        guard named != nil || cutHeader || (fields.count == 2 && MessageID(String(fields[0])) != nil) else {
            throw SampleError.refusal(
                "\(path) exists and is not an ack log (its first line is not an acknowledgement); run leaves it alone: "
                    + "give --ack-log a new path")
        }
        switch start {
        case .kept: break
        case .fresh:
            throw SampleError.refusal(
                "\(path) holds the acknowledgements of an earlier run; without --keep this run starts a new ledger, "
                    + "which they would not match: give --ack-log a new path, or --keep to add to the ledger")
        case .missing(let option, let database):
            throw SampleError.refusal(
                "\(path) holds the acknowledgements of an earlier run, but \(database) holds no ledger for \(option) to "
                    + "add to: this run would start a new one, which they would not match, so nothing was changed: give "
                    + "--database the ledger this ack log is of, or --ack-log a new path")
        }
        guard named != nil || cutHeader else {
            throw SampleError.refusal(
                "\(path) holds acknowledgements that an older version of the sample wrote, without the line that names "
                    + "their ledger; run adds only to an ack log of the ledger it writes, and cannot tell whether this "
                    + "is one, so nothing was changed: give --ack-log a new path ('verify --ack-log' still reads this "
                    + "one)")
        }
        // A last line without its end (a run stopped while writing it, such as on a full disk): the next
        // acknowledgement would be joined to it, and `verify` would read the two as one that names no stored event.
        guard let end = try? handle.seekToEnd(), end > 0, (try? handle.seek(toOffset: end - 1)) != nil,
            let last = try? handle.read(upToCount: 1), last.count == 1
        else { throw SampleError("cannot read the ack log \(path)") }
        guard last.first == UInt8(ascii: "\n") else {
            throw SampleError.refusal(
                "\(path) ends in a line cut short (a run stopped while it wrote the line); acknowledgements appended "
                    + "to it would be joined to that line: give --ack-log a new path")
        }
        return .file(identity, ledger: named)
    }

    /// Refuses a log whose first line names another ledger than the one in `store` (named `database`), which the run
    /// has opened and not yet written: nothing is written to either.
    func refuseOtherLedger(in store: some EventStore, database: String) async throws {
        guard let named = ledger else { return }
        let identity = try await LedgerIdentity.read(in: store)
        guard identity == named else {
            throw Self.otherLedger(path, names: named, database: database, holds: identity, by: .run)
        }
    }

    /// Has a log without a first line name the ledger in `store`, whose checks the run has passed, with its first
    /// acknowledgement: the ledger is given an identity first if it has none (one an older version made:
    /// ``LedgerIdentity``). Called before the run writes to the ledger, after its last refusal.
    func identifyLedger(in store: some EventStore) async throws {
        guard ledger == nil else { return }
        ledger = try await LedgerIdentity.readOrAssign(in: store)
    }

    /// Appends one line per command; called only after the commands' events are durable, and after
    /// ``identifyLedger(in:)``. The first acknowledgement in a log that had none goes after the header, in one write.
    func acknowledge(_ commands: [(MessageID, StreamID)]) throws {
        used = true
        var text = ""
        if writesHeader {
            guard let ledger else { throw SampleError("internal error: the ack log \(path) names no ledger") }
            text = AckLogHeader.line(ledger: ledger)
        }
        for (messageID, streamID) in commands {
            text += "\(messageID) \(streamID)\n"
        }
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { raw in
                write(descriptor, raw.baseAddress! + offset, raw.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw SampleError("cannot write the ack log \(path): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
        writesHeader = false
    }
}
