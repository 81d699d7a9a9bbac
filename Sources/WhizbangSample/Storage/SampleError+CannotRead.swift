import Foundation

extension SampleError {
    /// "cannot read `what` `path`: why", for a file `FileManager` could not read, with the cause in the system's
    /// words (missing, no permission, a directory, not a regular file): `FileManager` says only that it could not.
    static func cannotRead(_ path: String, what: String? = nil) -> SampleError {
        SampleError("cannot read \(what.map { "\($0) " } ?? "")\(path): \(unreadableCause(path))")
    }

    private static func unreadableCause(_ path: String) -> String {
        guard access(path, R_OK) == 0 else { return String(cString: strerror(errno)) }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            return String(cString: strerror(EISDIR))
        }
        let attributes = try? FileManager.default.attributesOfItem(atPath: ResolvedPath.of(path))
        let type = attributes?[.type] as? FileAttributeType
        guard type == .typeRegular else { return "not a regular file" }
        return "the file could not be read whole"
    }
}
