#if canImport(Glibc)
import Glibc
#endif

/// Names the calling thread for `top -H`, `perf` and debuggers, through `/proc/thread-self/comm` (Linux keeps the
/// first 15 bytes; Foundation's `Thread.name` does not reach the kernel for longer names). Does nothing elsewhere.
func nameCurrentThread(_ name: String) {
    #if os(Linux)
    let descriptor = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    _ = close(descriptor)
    #endif
}
