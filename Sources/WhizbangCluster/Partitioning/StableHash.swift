public import Whizbang

/// The partition of a stream: a hash of its id that every machine, process and Swift version computes alike.
///
/// Swift's `Hasher` is seeded per process, so it cannot place a stream; this is FNV-1a over the id's UTF-8 bytes,
/// 64 bits, reduced modulo the partition count. The count is fixed for the life of a cluster (it is recorded in the
/// database when the cluster is created): changing it would move streams between owners.
public enum StableHash {
    /// The 64-bit FNV-1a hash of `text`'s UTF-8 bytes.
    public static func fnv1a64(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// The partition, from 0 to `count - 1`, that owns `streamID`.
    ///
    /// - Precondition: `count` is positive.
    public static func partition(of streamID: StreamID, count: Int) -> Int {
        precondition(count > 0, "a partition count must be positive")
        return Int(fnv1a64(streamID.rawValue) % UInt64(count))
    }
}
