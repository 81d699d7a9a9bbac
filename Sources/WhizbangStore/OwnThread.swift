import Foundation

/// Marks a thread as one of an object's own (the writer's thread, a reader pool's threads), so that the object can
/// tell a call made from its own thread (from code it runs there: an inline projection, a read model, a reduction)
/// and not wait on that thread for itself.
enum OwnThread {
    private static let key = "whizbang.sqlite.owner"

    /// Marks the calling thread as `owner`'s; call it first thing on the thread.
    static func mark(_ owner: AnyObject) {
        Thread.current.threadDictionary[key] = NSNumber(value: UInt(bitPattern: ObjectIdentifier(owner)))
    }

    /// Whether the calling thread was marked as `owner`'s.
    static func isCurrent(_ owner: AnyObject) -> Bool {
        (Thread.current.threadDictionary[key] as? NSNumber)?.uintValue == UInt(bitPattern: ObjectIdentifier(owner))
    }
}
