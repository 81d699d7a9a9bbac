import CWhizbangSQLite
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An SQLite VFS over the default one that gathers a writer connection's WAL writes into one write per commit.
///
/// Every file is opened by the default VFS (`unix` on Linux and macOS) and every call is passed to it, except the
/// WAL's writes, which ``SQLiteWALGathering`` collects and writes before anything can observe them (see there for
/// when). Only the store's writer connection opens its database through this VFS; readers and the maintenance
/// connection use the default one and read what the writer has written.
///
/// A file opened here is laid out as this VFS's `sqlite3_file` (the methods pointer), a pointer to its
/// ``FileState``, and then the default VFS's file.
enum SQLiteGatheringVFS {
    /// The name the VFS is registered under.
    static let name = "whizbang-gathering"

    /// Whether the VFS is registered; registering happens once, on first use.
    static let isRegistered: Bool = register()

    /// What a file opened through this VFS is, and its gathering where it has one.
    ///
    /// `@unchecked Sendable`: used only by the thread that uses the connection.
    final class FileState: @unchecked Sendable {
        enum Role {
            /// The main database file: it owns the connection's gathering, which its WAL file then shares.
            case database
            /// The WAL file: its writes go to the gathering, if the database file's was found.
            case wal
            /// Any other file (a temporary file, a statement journal): passed straight through.
            case other
        }

        let role: Role
        let gathering: SQLiteWALGathering?
        /// The key of the database file in ``databases``, so that its WAL file finds its gathering.
        let databaseKey: UInt

        init(role: Role, gathering: SQLiteWALGathering?, databaseKey: UInt) {
            self.role = role
            self.gathering = gathering
            self.databaseKey = databaseKey
        }
    }

    /// The gathering of each database file open through this VFS, by the address of the name SQLite opened it with.
    ///
    /// SQLite opens a connection's WAL file with a name stored right after the database's name, and
    /// `sqlite3_filename_database` gives back the database's name at the same address, so the address tells
    /// which connection a WAL file belongs to, even when two connections open the same file.
    private static let databases = Mutex<[UInt: SQLiteWALGathering]>([:])

    /// The connection's gathering, or `nil` if it was not opened through this VFS (or has not opened its WAL).
    static func gathering(of handle: OpaquePointer?) -> SQLiteWALGathering? {
        var file: UnsafeMutableRawPointer?
        guard sqlite3_file_control(handle, "main", SQLITE_FCNTL_FILE_POINTER, &file) == SQLITE_OK, let file,
            file.assumingMemoryBound(to: sqlite3_file.self).pointee.pMethods == UnsafePointer(methods)
        else { return nil }
        return state(of: file.assumingMemoryBound(to: sqlite3_file.self)).gathering
    }

    // MARK: Layout

    private static let stateOffset = MemoryLayout<sqlite3_file>.stride
    private static let innerOffset = stateOffset + MemoryLayout<UnsafeMutableRawPointer>.stride

    private static func inner(_ file: UnsafeMutablePointer<sqlite3_file>) -> UnsafeMutablePointer<sqlite3_file> {
        (UnsafeMutableRawPointer(file) + innerOffset).assumingMemoryBound(to: sqlite3_file.self)
    }

    private static func state(of file: UnsafeMutablePointer<sqlite3_file>) -> FileState {
        let pointer = (UnsafeMutableRawPointer(file) + stateOffset).load(as: UnsafeMutableRawPointer.self)
        return Unmanaged<FileState>.fromOpaque(pointer).takeUnretainedValue()
    }

    /// The default VFS's method table of a file, which every call is passed to.
    private static func innerMethods(_ file: UnsafeMutablePointer<sqlite3_file>?) -> (
        UnsafeMutablePointer<sqlite3_file>, sqlite3_io_methods
    ) {
        let innerFile = inner(file!)
        return (innerFile, innerFile.pointee.pMethods!.pointee)
    }

    /// Writes what the file's gathering holds, for a WAL file; the failure code if that failed.
    private static func flush(_ file: UnsafeMutablePointer<sqlite3_file>?) -> Int32 {
        let state = state(of: file!)
        guard state.role == .wal, let gathering = state.gathering else { return SQLITE_OK }
        return gathering.flush()
    }

    // MARK: Registration

    private static func register() -> Bool {
        guard let base = sqlite3_vfs_find(nil), base.pointee.iVersion >= 1 else { return false }
        let vfs = UnsafeMutablePointer<sqlite3_vfs>.allocate(capacity: 1)
        vfs.initialize(to: base.pointee)
        vfs.pointee.pNext = nil
        vfs.pointee.zName = UnsafePointer(strdup(name))
        vfs.pointee.szOsFile = Int32(innerOffset) + base.pointee.szOsFile
        vfs.pointee.pAppData = UnsafeMutableRawPointer(base)
        vfs.pointee.xOpen = { vfs, name, file, flags, outFlags in
            SQLiteGatheringVFS.open(vfs, name, file, flags, outFlags)
        }
        // The VFS and its name stay registered for the life of the process.
        return sqlite3_vfs_register(vfs, 0) == SQLITE_OK
    }

    private static func open(
        _ vfs: UnsafeMutablePointer<sqlite3_vfs>?, _ name: UnsafePointer<CChar>?,
        _ file: UnsafeMutablePointer<sqlite3_file>?, _ flags: Int32, _ outFlags: UnsafeMutablePointer<Int32>?
    ) -> Int32 {
        guard let vfs, let file else { return SQLITE_MISUSE }
        let base = vfs.pointee.pAppData.assumingMemoryBound(to: sqlite3_vfs.self)
        let innerFile = inner(file)
        innerFile.pointee.pMethods = nil
        file.pointee.pMethods = nil
        let code = base.pointee.xOpen(base, name, innerFile, flags, outFlags)
        guard code == SQLITE_OK, innerFile.pointee.pMethods != nil else {
            if let close = innerFile.pointee.pMethods?.pointee.xClose { _ = close(innerFile) }
            return code == SQLITE_OK ? SQLITE_CANTOPEN : code
        }
        let state: FileState
        if flags & SQLITE_OPEN_MAIN_DB != 0, let name {
            let key = UInt(bitPattern: name)
            let gathering = SQLiteWALGathering()
            databases.withLock { $0[key] = gathering }
            state = FileState(role: .database, gathering: gathering, databaseKey: key)
        } else if flags & SQLITE_OPEN_WAL != 0, let name, let database = sqlite3_filename_database(name) {
            let key = UInt(bitPattern: database)
            let gathering = databases.withLock { $0[key] }
            gathering?.walFile = innerFile
            state = FileState(role: .wal, gathering: gathering, databaseKey: key)
        } else {
            state = FileState(role: .other, gathering: nil, databaseKey: 0)
        }
        (UnsafeMutableRawPointer(file) + stateOffset).storeBytes(
            of: Unmanaged.passRetained(state).toOpaque(), as: UnsafeMutableRawPointer.self)
        file.pointee.pMethods = UnsafePointer(methods)
        return SQLITE_OK
    }

    private static func close(_ file: UnsafeMutablePointer<sqlite3_file>?) -> Int32 {
        let statePointer = (UnsafeMutableRawPointer(file!) + stateOffset).load(as: UnsafeMutableRawPointer.self)
        let state = Unmanaged<FileState>.fromOpaque(statePointer).takeRetainedValue()
        var code = SQLITE_OK
        switch state.role {
        case .wal:
            code = state.gathering?.closeWAL() ?? SQLITE_OK
        case .database:
            databases.withLock { databases in
                if databases[state.databaseKey] === state.gathering { databases[state.databaseKey] = nil }
            }
        case .other:
            break
        }
        let (innerFile, methods) = innerMethods(file)
        let closed = methods.xClose(innerFile)
        file!.pointee.pMethods = nil
        return code == SQLITE_OK ? closed : code
    }

    // MARK: Methods

    /// The method table of every file opened through this VFS (version 3, as the default VFS's).
    ///
    /// `nonisolated(unsafe)`: written once here and only read afterwards, by SQLite.
    nonisolated(unsafe) private static let methods: UnsafeMutablePointer<sqlite3_io_methods> = {
        let methods = UnsafeMutablePointer<sqlite3_io_methods>.allocate(capacity: 1)
        methods.initialize(to: sqlite3_io_methods())
        methods.pointee.iVersion = 3
        methods.pointee.xClose = { file in SQLiteGatheringVFS.close(file) }
        methods.pointee.xRead = { file, buffer, count, offset in
            let code = SQLiteGatheringVFS.flush(file)
            guard code == SQLITE_OK else { return code }
            let (inner, methods) = SQLiteGatheringVFS.innerMethods(file)
            return methods.xRead(inner, buffer, count, offset)
        }
        methods.pointee.xWrite = { file, bytes, count, offset in
            let state = SQLiteGatheringVFS.state(of: file!)
            if state.role == .wal, let gathering = state.gathering, let bytes {
                return gathering.write(bytes, count: Int(count), offset: offset)
            }
            let (inner, methods) = SQLiteGatheringVFS.innerMethods(file)
            return methods.xWrite(inner, bytes, count, offset)
        }
        methods.pointee.xTruncate = { file, size in
            let code = SQLiteGatheringVFS.flush(file)
            guard code == SQLITE_OK else { return code }
            let (inner, methods) = SQLiteGatheringVFS.innerMethods(file)
            return methods.xTruncate(inner, size)
        }
        methods.pointee.xSync = { file, flags in
            let code = SQLiteGatheringVFS.flush(file)
            guard code == SQLITE_OK else { return code }
            let (inner, methods) = SQLiteGatheringVFS.innerMethods(file)
            return methods.xSync(inner, flags)
        }
        methods.pointee.xFileSize = { file, size in
            let code = SQLiteGatheringVFS.flush(file)
            guard code == SQLITE_OK else { return code }
            let (inner, methods) = SQLiteGatheringVFS.innerMethods(file)
            return methods.xFileSize(inner, size)
        }
        methods.pointee.xLock = { file, lock in
            let (inner, methods) = SQLiteGatheringVFS.innerMethods(file)
            return methods.xLock(inner, lock)
        }
        methods.pointee.xUnlock = { file, lock in
            let (inner, methods) = SQLiteGatheringVFS.innerMethods(file)
            return methods.xUnlock(inner, lock)
        }
        methods.pointee.xCheckReservedLock = { file, result in
            let (inner, methods) = SQLiteGatheringVFS.innerMethods(file)
            return methods.xCheckReservedLock(inner, result)
        }
        methods.pointee.xFileControl = { file, operation, argument in
            let code = SQLiteGatheringVFS.flush(file)
            guard code == SQLITE_OK else { return code }
            let (inner, methods) = SQLiteGatheringVFS.innerMethods(file)
            return methods.xFileControl(inner, operation, argument)
        }
        methods.pointee.xSectorSize = { file in
            let (inner, methods) = SQLiteGatheringVFS.innerMethods(file)
            return methods.xSectorSize(inner)
        }
        methods.pointee.xDeviceCharacteristics = { file in
            let (inner, methods) = SQLiteGatheringVFS.innerMethods(file)
            return methods.xDeviceCharacteristics(inner)
        }
        methods.pointee.xShmMap = { file, page, pageSize, extend, address in
            let (inner, methods) = SQLiteGatheringVFS.innerMethods(file)
            guard let map = methods.xShmMap else { return SQLITE_IOERR }
            return map(inner, page, pageSize, extend, address)
        }
        methods.pointee.xShmLock = { file, offset, count, flags in
            // The WAL's write lock (slot 0) released: what is still gathered was not committed.
            let state = SQLiteGatheringVFS.state(of: file!)
            if state.role == .database, let gathering = state.gathering, offset == 0,
                flags == SQLITE_SHM_UNLOCK | SQLITE_SHM_EXCLUSIVE
            {
                gathering.discardUncommitted()
            }
            let (inner, methods) = SQLiteGatheringVFS.innerMethods(file)
            guard let lock = methods.xShmLock else { return SQLITE_IOERR }
            return lock(inner, offset, count, flags)
        }
        methods.pointee.xShmBarrier = { file in
            // A commit is published after this barrier: its frames must be in the file first.
            let state = SQLiteGatheringVFS.state(of: file!)
            if state.role == .database, let gathering = state.gathering { gathering.flushBeforePublishing() }
            let (inner, methods) = SQLiteGatheringVFS.innerMethods(file)
            methods.xShmBarrier?(inner)
        }
        methods.pointee.xShmUnmap = { file, delete in
            let (inner, methods) = SQLiteGatheringVFS.innerMethods(file)
            guard let unmap = methods.xShmUnmap else { return SQLITE_IOERR }
            return unmap(inner, delete)
        }
        methods.pointee.xFetch = { file, offset, count, address in
            let (inner, methods) = SQLiteGatheringVFS.innerMethods(file)
            guard let fetch = methods.xFetch else {
                address?.pointee = nil
                return SQLITE_OK
            }
            return fetch(inner, offset, count, address)
        }
        methods.pointee.xUnfetch = { file, offset, address in
            let (inner, methods) = SQLiteGatheringVFS.innerMethods(file)
            guard let unfetch = methods.xUnfetch else { return SQLITE_OK }
            return unfetch(inner, offset, address)
        }
        return methods
    }()
}
