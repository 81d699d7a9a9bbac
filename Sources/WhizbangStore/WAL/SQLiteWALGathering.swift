import CWhizbangSQLite
import Synchronization

/// The WAL writes of one writer connection, gathered in memory and written to the file with one call.
///
/// SQLite writes each WAL frame with two `xWrite` calls (its 24-byte header, then the page), one system call each;
/// a group commit of a hundred single-event appends dirties over a hundred pages, so several hundred `pwrite`s per
/// commit, which costs more than the rest of the commit on a host where system calls are slow. The gathering VFS
/// (``SQLiteGatheringVFS``) hands those writes here instead: contiguous writes are appended to one buffer, written
/// with as few calls as the default VFS allows (pieces under 128 KiB) before anything can observe them:
/// - when the page of a commit's last frame arrives (its header carries the database size, which only a commit
///   frame does): the write then reports a failure to SQLite, which rolls the transaction back as after a failed
///   `pwrite` of its own, so a full disk fails the commit and nothing else. A `FULL` commit's sync and the
///   publication of the commit to other connections both come after that frame;
/// - before any other operation on the WAL file (read, sync, size, truncate, close, file control), and when the
///   buffer reaches ``bufferLimit``, for the frames of a transaction larger than that;
/// - never, for the frames of a transaction that rolls back: they are forgotten when SQLite releases the WAL's write
///   lock (``discardUncommitted()``);
/// - at the memory barrier SQLite places between the two copies of the WAL index header when it publishes a commit
///   (`xShmBarrier` on the database file). The buffer is empty there, since the commit frame came first; this only
///   guards that order. Should a write fail there, SQLite could not be told, and the process stops rather than let a
///   checkpoint copy frames that are not in the file (after a crash, SQLite's recovery rebuilds the index from the
///   frames that are in the file, and no caller was told that the commit succeeded).
///
/// `@unchecked Sendable`: the buffer is used only by the thread that uses the connection (opened with
/// `SQLITE_OPEN_NOMUTEX`); the counters are atomic.
final class SQLiteWALGathering: @unchecked Sendable {
    /// The most bytes gathered before they are written, each time with one call: the `unix` VFS keeps only the low
    /// 17 bits of a write's length (its writes are at most a page and a frame header), so a write of 128 KiB or more
    /// would be cut short. A larger transaction is written in pieces of this size as it is gathered, with no more
    /// calls than if it were gathered whole.
    static let bufferLimit = 0x1F000

    /// The WAL file as the default VFS opened it, while it is open.
    var walFile: UnsafeMutablePointer<sqlite3_file>?
    /// How many `xWrite` calls were gathered, and how many writes reached the file: for tests and measurements,
    /// read from any thread.
    let gatheredWrites = Atomic(0)
    let issuedWrites = Atomic(0)

    /// ``bufferLimit`` bytes, allocated once and used again by every commit. (An array that grew with each commit
    /// and was let go after one of more than 1 MiB, as a commit at 256 appenders in flight is, took fresh pages
    /// from the kernel, zeroed and faulted in, for each such commit.)
    private let buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferLimit, alignment: 16)
    /// How many bytes of ``buffer`` are gathered, and where in the WAL they go.
    private var gathered = 0
    private var bufferOffset: Int64 = 0
    /// Whether the last write gathered was a commit frame's header, so the next one is its page.
    private var commitFrameHeaderGathered = false

    deinit {
        buffer.deallocate()
    }

    /// Gathers one write to the WAL, first writing what is gathered if this write does not continue it; writes
    /// everything once the page of a commit frame is gathered.
    func write(_ bytes: UnsafeRawPointer, count: Int, offset: Int64) -> Int32 {
        if gathered > 0, offset != bufferOffset + Int64(gathered) {
            let code = flush()
            guard code == SQLITE_OK else { return code }
        }
        let endsCommit = commitFrameHeaderGathered
        commitFrameHeaderGathered = count == Self.frameHeaderSize && Self.isCommitFrameHeader(bytes)
        if gathered == 0 { bufferOffset = offset }
        // Fills the buffer and writes it whenever it is full, so every write but a commit's last is a full one,
        // whatever the page size.
        var copied = 0
        while copied < count {
            let piece = min(count - copied, Self.bufferLimit - gathered)
            (buffer + gathered).copyMemory(from: bytes + copied, byteCount: piece)
            gathered += piece
            copied += piece
            if gathered == Self.bufferLimit {
                let code = flush()
                guard code == SQLITE_OK else { return code }
                bufferOffset = offset + Int64(copied)
            }
        }
        gatheredWrites.add(1, ordering: .relaxed)
        return endsCommit ? flush() : SQLITE_OK
    }

    /// The size of a WAL frame header.
    static let frameHeaderSize = 24

    /// Whether a frame header is a commit frame's: bytes 4–7 hold the database size in pages after the commit, and
    /// are zero in every other frame.
    static func isCommitFrameHeader(_ bytes: UnsafeRawPointer) -> Bool {
        (4..<8).contains { bytes.load(fromByteOffset: $0, as: UInt8.self) != 0 }
    }

    /// Writes what is gathered with one call, and forgets it either way: after a failure SQLite rolls the
    /// transaction back and writes its frames again, as after a failed `pwrite` of its own.
    @discardableResult
    func flush() -> Int32 {
        let code = writeGathered()
        release()
        return code
    }

    /// Writes what is gathered before SQLite publishes it to other connections (see the type's notes).
    func flushBeforePublishing() {
        var code = SQLITE_OK
        for _ in 0..<3 {
            code = writeGathered()
            if code == SQLITE_OK {
                release()
                return
            }
        }
        fatalError(
            "whizbang: writing the WAL of an SQLite event store failed (SQLite result \(code)) while SQLite was "
                + "publishing the commit; stopping before a checkpoint can copy frames that were never written")
    }

    /// Writes what is gathered (at most ``bufferLimit`` bytes) through the default VFS with one call.
    private func writeGathered() -> Int32 {
        guard gathered > 0 else { return SQLITE_OK }
        // SQLITE_IOERR_WRITE (the C macro is not imported).
        guard let walFile, let write = walFile.pointee.pMethods?.pointee.xWrite else { return SQLITE_IOERR | (3 << 8) }
        issuedWrites.add(1, ordering: .relaxed)
        return write(walFile, buffer, Int32(gathered), bufferOffset)
    }

    private func release() {
        gathered = 0
    }

    /// Forgets what is gathered without writing it, when SQLite releases the WAL's write lock: what is still gathered
    /// then belongs to a transaction that did not commit (frames spilled before a rollback). A commit's frames were
    /// written at its commit frame, and anything after it at the barrier before the commit was published; written
    /// later, the rolled-back frames would land over those another writer has committed at the same offsets since.
    func discardUncommitted() {
        gathered = 0
        commitFrameHeaderGathered = false
    }

    /// Forgets the WAL file once it is closed; what was gathered is written first.
    func closeWAL() -> Int32 {
        let code = flush()
        walFile = nil
        return code
    }
}
