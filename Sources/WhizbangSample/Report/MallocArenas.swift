#if canImport(Glibc)
import Glibc
#endif

/// Caps the number of glibc malloc arenas of the process, unless `MALLOC_ARENA_MAX` already sets it.
///
/// glibc gives threads that contend for the allocator arenas of their own, up to eight per core, and keeps memory
/// freed into an arena for that arena's later allocations. The sample's work moves between the cooperative pool's
/// threads and the store's threads, so each arena keeps freed memory of its own. With two arenas the default
/// ledger run peaked at 56–59 MiB of resident memory instead of 62–65 MiB (see BENCHMARKS.md). Four is the
/// default: with two, the pool's two threads, the writer and the readers share arenas and wait for each other's
/// allocations, which doubled the context switches of a command and raised its system time by a third. The peak
/// stayed the same within a window: 58.5–60.5 MiB with four and 58.9–59.6 MiB with two at 100K accounts × 1M
/// commands. Does nothing where the C library is not glibc.
enum MallocArenas {
    /// Call at the start of the process, before any other thread runs.
    static func limit(to count: Int32 = 4) {
        #if canImport(Glibc)
        guard getenv("MALLOC_ARENA_MAX") == nil else { return }
        // `mallopt` is declared in <malloc.h>, which the Glibc module does not include: look it up by name instead
        // (the default handle, RTLD_DEFAULT, is a null pointer). -8 is glibc's M_ARENA_MAX.
        guard let symbol = dlsym(nil, "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        _ = mallopt(-8, count)
        #endif
    }
}
