public import OrderedCollections

/// A fixed-capacity map that forgets its least recently used entry when full.
///
/// Entries live in an `OrderedDictionary`, whose keys and values are two dense arrays behind a compact hash table
/// of indices, and are linked into a recency list by index. A removed entry is swapped with the last one, so every
/// operation is constant time, and the arrays grow to the capacity at most, never past it. An entry costs its key
/// and value plus 8 bytes and a few bits: about a third of a `Dictionary` from keys to slots of key, value and
/// links, whose buckets stay a quarter empty and whose slots double as they grow. Lookups, inserts and evictions
/// do not allocate once the cache has filled. Not thread-safe: callers hold it under a lock.
@usableFromInline
struct LRUCache<Key: Hashable, Value> {
    @usableFromInline
    struct Entry {
        @usableFromInline var value: Value
        /// The index of the next more recently used entry, or -1.
        @usableFromInline var newer: Int32
        /// The index of the next less recently used entry, or -1.
        @usableFromInline var older: Int32

        @inlinable
        init(value: Value, newer: Int32, older: Int32) {
            self.value = value
            self.newer = newer
            self.older = older
        }
    }

    @usableFromInline var entries: OrderedDictionary<Key, Entry> = [:]
    @usableFromInline var newest: Int32 = -1
    @usableFromInline var oldest: Int32 = -1
    /// The entries ``entries`` has room for.
    @usableFromInline var reserved = 0
    /// The most entries kept.
    @usableFromInline let capacity: Int

    @inlinable
    init(capacity: Int) {
        self.capacity = min(max(0, capacity), Int(Int32.max))
    }

    @inlinable
    var count: Int { entries.count }

    /// The value for `key`, which becomes the most recently used.
    @inlinable
    mutating func value(for key: Key) -> Value? {
        guard let index = entries.index(forKey: key) else { return nil }
        moveToFront(Int32(index))
        return entries.values[index].value
    }

    /// Stores `value` for `key` as the most recently used, evicting the least recently used entry if full.
    @inlinable
    mutating func set(_ value: Value, for key: Key) {
        guard capacity > 0 else { return }
        if let index = entries.index(forKey: key) {
            entries.values[index].value = value
            moveToFront(Int32(index))
            return
        }
        if entries.count >= capacity {
            remove(at: oldest)
        } else if entries.count == reserved {
            // Grow as an array does, but never past the capacity.
            reserved = min(capacity, max(16, 2 * reserved))
            entries.reserveCapacity(reserved)
        }
        entries.updateValue(Entry(value: value, newer: -1, older: -1), forKey: key)
        linkAtFront(Int32(entries.count - 1))
    }

    /// Forgets `key`.
    @inlinable
    mutating func removeValue(for key: Key) {
        guard let index = entries.index(forKey: key) else { return }
        remove(at: Int32(index))
    }

    /// Forgets everything, keeping the allocated capacity.
    @inlinable
    mutating func removeAll() {
        entries.removeAll(keepingCapacity: true)
        newest = -1
        oldest = -1
    }

    /// Removes the entry at `index` by moving the last entry into its place.
    @inlinable
    mutating func remove(at index: Int32) {
        unlink(index)
        let last = Int32(entries.count - 1)
        if index != last {
            entries.swapAt(Int(index), Int(last))
            // The entry that was last is now at `index`: its neighbours and the ends must say so.
            let moved = entries.values[Int(index)]
            if moved.newer >= 0 { entries.values[Int(moved.newer)].older = index } else { newest = index }
            if moved.older >= 0 { entries.values[Int(moved.older)].newer = index } else { oldest = index }
        }
        entries.removeLast()
    }

    @inlinable
    mutating func moveToFront(_ index: Int32) {
        guard index != newest else { return }
        unlink(index)
        linkAtFront(index)
    }

    @inlinable
    mutating func unlink(_ index: Int32) {
        let newer = entries.values[Int(index)].newer
        let older = entries.values[Int(index)].older
        if newer >= 0 { entries.values[Int(newer)].older = older } else { newest = older }
        if older >= 0 { entries.values[Int(older)].newer = newer } else { oldest = newer }
        entries.values[Int(index)].newer = -1
        entries.values[Int(index)].older = -1
    }

    @inlinable
    mutating func linkAtFront(_ index: Int32) {
        entries.values[Int(index)].older = newest
        entries.values[Int(index)].newer = -1
        if newest >= 0 { entries.values[Int(newest)].newer = index }
        newest = index
        if oldest < 0 { oldest = index }
    }
}
