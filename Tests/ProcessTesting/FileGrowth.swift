#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Waits for a file that another process writes to reach a size, woken by the kernel at each change in the file's
/// directory (inotify on Linux, kqueue on macOS) rather than by looking at the file on a timer.
///
/// For a child that says nothing on its output when it has written a file far enough (an ack log's first line, a WAL
/// past a size): the kernel's notice of each write is the signal, and the size is read again at each notice.
public enum FileGrowth {
    /// The file did not reach its size within the time given.
    public struct TimedOut: Error, CustomStringConvertible {
        public let description: String
    }

    /// The kernel refused to watch the file's directory.
    public struct CannotWatch: Error, CustomStringConvertible {
        public let description: String
    }

    /// Returns once the file at `path` holds at least `size` bytes. The file need not exist yet; its directory must.
    ///
    /// - Throws: ``TimedOut`` if the file is still smaller after `limit`; `CancellationError` at once when the task
    ///   is cancelled, so that a wait nobody needs any more does not hold its thread until `limit`.
    public static func wait(for path: String, toReach size: Int, within limit: Duration) async throws {
        // The watching thread also waits on this pipe, which a cancellation writes to. It is closed only once the
        // cancellation handler can no longer run, so that handler never writes to a number reused by another file.
        var ends: [Int32] = [-1, -1]
        // Closed on exec: the child processes tests start meanwhile must not hold it.
        let made = pipe(&ends) == 0 && ends.allSatisfy { fcntl($0, F_SETFD, FD_CLOEXEC) == 0 }
        guard made else {
            throw CannotWatch(description: "pipe: \(String(cString: strerror(errno)))")
        }
        let (cancelled, wake) = (ends[0], ends[1])
        defer {
            close(cancelled)
            close(wake)
        }
        // A thread of its own blocks on the kernel's notices, off the tasks' threads.
        let reached = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Bool, any Error>) in
                Thread.detachNewThread {
                    continuation.resume(
                        with: Result { try watch(path, size: size, limit: limit, cancelled: cancelled) })
                }
            }
        } onCancel: {
            var byte: UInt8 = 1
            _ = write(wake, &byte, 1)
        }
        guard reached else {
            throw TimedOut(description: "\(path) held \(currentSize(path)) bytes after \(limit), not \(size)")
        }
    }

    /// The size of the file at `path`; 0 when there is none.
    private static func currentSize(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }

    /// Milliseconds until `remaining` is over, rounded up, for `poll`.
    private static func milliseconds(_ remaining: Duration) -> Int32 {
        let (seconds, attoseconds) = remaining.components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1
        return Int32(clamping: milliseconds)
    }

    /// Whether the file reached `size` within `limit`; blocks the calling thread. Throws `CancellationError` once
    /// `cancelled` (a pipe's reading end) can be read.
    private static func watch(_ path: String, size: Int, limit: Duration, cancelled: Int32) throws -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: limit)
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        #if os(Linux)
        let watcher = inotify_init1(Int32(IN_CLOEXEC))
        guard watcher >= 0 else { throw CannotWatch(description: "inotify_init1: \(String(cString: strerror(errno)))") }
        defer { close(watcher) }
        // Any change of the directory's entries: the file made, written, or renamed into place.
        guard inotify_add_watch(watcher, directory, UInt32(IN_CREATE | IN_MODIFY | IN_MOVED_TO)) >= 0 else {
            throw CannotWatch(description: "inotify_add_watch \(directory): \(String(cString: strerror(errno)))")
        }
        var notices = [UInt8](repeating: 0, count: 4096)
        while true {
            // Read after the watch was set: a write since then wakes the poll below.
            if currentSize(path) >= size { return true }
            let remaining = clock.now.duration(to: deadline)
            guard remaining > .zero else { return false }
            var descriptors = [
                pollfd(fd: watcher, events: Int16(POLLIN), revents: 0),
                pollfd(fd: cancelled, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&descriptors, 2, milliseconds(remaining))
            if ready < 0 && errno != EINTR {
                throw CannotWatch(description: "poll: \(String(cString: strerror(errno)))")
            }
            if descriptors[1].revents != 0 { throw CancellationError() }
            // The notices name what changed; the size read at the top of the loop is all that matters.
            if descriptors[0].revents != 0 { _ = read(watcher, &notices, notices.count) }
        }
        #else
        let queue = kqueue()
        guard queue >= 0 else { throw CannotWatch(description: "kqueue: \(String(cString: strerror(errno)))") }
        defer { close(queue) }
        func register(_ descriptor: Int32, _ notes: Int32) {
            var change = kevent(
                ident: UInt(descriptor), filter: Int16(EVFILT_VNODE), flags: UInt16(EV_ADD | EV_CLEAR),
                fflags: UInt32(notes), data: 0, udata: nil)
            _ = kevent(queue, &change, 1, nil, 0, nil)
        }
        let directoryDescriptor = open(directory, O_EVTONLY)
        guard directoryDescriptor >= 0 else {
            throw CannotWatch(description: "open \(directory): \(String(cString: strerror(errno)))")
        }
        defer { close(directoryDescriptor) }
        // An entry made or renamed into place: the file, once, then its writes.
        register(directoryDescriptor, NOTE_WRITE)
        var cancellation = kevent(
            ident: UInt(cancelled), filter: Int16(EVFILT_READ), flags: UInt16(EV_ADD), fflags: 0, data: 0, udata: nil)
        _ = kevent(queue, &cancellation, 1, nil, 0, nil)
        var fileDescriptor: Int32 = -1
        defer { if fileDescriptor >= 0 { close(fileDescriptor) } }
        while true {
            if fileDescriptor < 0 {
                fileDescriptor = open(path, O_EVTONLY)
                if fileDescriptor >= 0 { register(fileDescriptor, NOTE_WRITE | NOTE_EXTEND) }
            }
            // Read after the watches were set: a write since then wakes the wait below.
            if currentSize(path) >= size { return true }
            let remaining = clock.now.duration(to: deadline)
            guard remaining > .zero else { return false }
            let (seconds, attoseconds) = remaining.components
            var timeout = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
            var notice = kevent()
            let ready = kevent(queue, nil, 0, &notice, 1, &timeout)
            if ready < 0 && errno != EINTR {
                throw CannotWatch(description: "kevent: \(String(cString: strerror(errno)))")
            }
            if ready > 0 && notice.filter == Int16(EVFILT_READ) { throw CancellationError() }
        }
        #endif
    }
}
