#if canImport(Glibc)
import Glibc
#endif

/// Gives the memory the process freed back to the operating system.
///
/// glibc keeps freed memory in its arenas for later allocations, so large structures freed after a phase (the run's
/// aggregate cache, at 100,000 accounts about 20 MiB) stay resident while the next phase allocates its own;
/// `malloc_trim(0)` returns every free page. Does nothing where the C library is not glibc.
enum FreeMemory {
    /// Call between phases, once the structures of the phase before are released.
    static func returnToSystem() {
        #if canImport(Glibc)
        // `malloc_trim` is declared in <malloc.h>, which the Glibc module does not include: look it up by name
        // (the default handle, RTLD_DEFAULT, is a null pointer).
        guard let symbol = dlsym(nil, "malloc_trim") else { return }
        let trim = unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        _ = trim(0)
        #endif
    }
}
