#include <sqlite3.h>

#if defined(__linux__)
// Only macros: a header that declares types (fcntl.h, unistd.h) would make this module their owner in Swift.
#include <errno.h>
#include <sys/syscall.h>
long syscall(long number, ...);
#elif defined(__APPLE__)
#include <stdio.h>
#else
#include <errno.h>
#endif

// Makes closing `db` leave its WAL as it is, neither checkpointed into the database nor removed
// (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE): a function, since Swift imports no variadic C function such as sqlite3_db_config.
static inline int whizbang_sqlite3_no_checkpoint_on_close(sqlite3 *db) {
    return sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)0);
}

// Renames `from` to `to` only if nothing exists at `to`, atomically: fails with EEXIST otherwise, never replacing
// a file, and with EINVAL or ENOTSUP where the file system cannot rename so (ENOSYS on a kernel without the call).
// Linux: renameat2 with RENAME_NOREPLACE, through syscall, since Glibc declares renameat2 only under _GNU_SOURCE and
// Swift imports no variadic C function. Darwin: renamex_np with RENAME_EXCL.
static inline int whizbang_rename_noreplace(const char *from, const char *to) {
#if defined(__linux__) && defined(SYS_renameat2)
    // AT_FDCWD (-100): both paths are taken as open(2) takes them; 1: RENAME_NOREPLACE.
    return (int)syscall(SYS_renameat2, -100, from, -100, to, 1u);
#elif defined(__APPLE__)
    return renamex_np(from, to, RENAME_EXCL);
#else
    errno = ENOSYS;
    return -1;
#endif
}
