/// A fixed-capacity map that forgets its least recently used entry when full.
///
/// Entries live in preallocated slots linked into a recency list by index, so lookups, inserts and evictions do not
/// allocate once the cache has filled. Not thread-safe: callers hold it under a lock.
@usableFromInline
struct LRUCache<Key: Hashable, Value> {
    @usableFromInline
    struct Slot {
        @usableFromInline var key: Key
        @usableFromInline var value: Value
        @usableFromInline var newer: Int
        @usableFromInline var older: Int

        @inlinable
        init(key: Key, value: Value, newer: Int, older: Int) {
            self.key = key
            self.value = value
            self.newer = newer
            self.older = older
        }
    }

    @usableFromInline var slots: [Slot] = []
    @usableFromInline var index: [Key: Int] = [:]
    @usableFromInline var newest = -1
    @usableFromInline var oldest = -1
    @usableFromInline var free: [Int] = []
    /// The most entries kept.
    @usableFromInline let capacity: Int

    @inlinable
    init(capacity: Int) {
        self.capacity = max(0, capacity)
        index.reserveCapacity(self.capacity)
    }

    @inlinable
    var count: Int { index.count }

    /// The value for `key`, which becomes the most recently used.
    @inlinable
    mutating func value(for key: Key) -> Value? {
        guard let slot = index[key] else { return nil }
        moveToFront(slot)
        return slots[slot].value
    }

    /// Stores `value` for `key` as the most recently used, evicting the least recently used entry if full.
    @inlinable
    mutating func set(_ value: Value, for key: Key) {
        guard capacity > 0 else { return }
        if let slot = index[key] {
            slots[slot].value = value
            moveToFront(slot)
            return
        }
        let slot: Int
        if let reused = free.popLast() {
            slot = reused
            slots[slot] = Slot(key: key, value: value, newer: -1, older: -1)
        } else if slots.count < capacity {
            slot = slots.count
            slots.append(Slot(key: key, value: value, newer: -1, older: -1))
        } else {
            slot = oldest
            unlink(slot)
            index[slots[slot].key] = nil
            slots[slot] = Slot(key: key, value: value, newer: -1, older: -1)
        }
        index[key] = slot
        linkAtFront(slot)
    }

    /// Forgets `key`.
    @inlinable
    mutating func removeValue(for key: Key) {
        guard let slot = index.removeValue(forKey: key) else { return }
        unlink(slot)
        free.append(slot)
    }

    /// Forgets everything, keeping the allocated capacity.
    @inlinable
    mutating func removeAll() {
        index.removeAll(keepingCapacity: true)
        slots.removeAll(keepingCapacity: true)
        free.removeAll(keepingCapacity: true)
        newest = -1
        oldest = -1
    }

    @inlinable
    mutating func moveToFront(_ slot: Int) {
        guard slot != newest else { return }
        unlink(slot)
        linkAtFront(slot)
    }

    @inlinable
    mutating func unlink(_ slot: Int) {
        let newer = slots[slot].newer
        let older = slots[slot].older
        if newer >= 0 { slots[newer].older = older } else { newest = older }
        if older >= 0 { slots[older].newer = newer } else { oldest = newer }
        slots[slot].newer = -1
        slots[slot].older = -1
    }

    @inlinable
    mutating func linkAtFront(_ slot: Int) {
        slots[slot].older = newest
        slots[slot].newer = -1
        if newest >= 0 { slots[newest].newer = slot }
        newest = slot
        if oldest < 0 { oldest = slot }
    }
}
