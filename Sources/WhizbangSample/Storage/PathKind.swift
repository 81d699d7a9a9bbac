import Foundation

/// What a path names, without following a symbolic link: the sample replaces or appends to a path only when it
/// knows what is there.
enum PathKind: Equatable {
    case absent
    case regularFile
    case symbolicLink
    case directory
    /// A device, a FIFO, a socket.
    case other

    init(_ path: String) {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let type = attributes[.type] as? FileAttributeType
        else {
            self = FileManager.default.fileExists(atPath: path) ? .other : .absent
            return
        }
        switch type {
        case .typeRegular: self = .regularFile
        case .typeSymbolicLink: self = .symbolicLink
        case .typeDirectory: self = .directory
        default: self = .other
        }
    }
}
