import Testing
@testable import Whizbang

@Suite struct LRUCacheTests {
    @Test func evictsTheLeastRecentlyUsedEntry() {
        var cache = LRUCache<Int, String>(capacity: 3)
        cache.set("a", for: 1)
        cache.set("b", for: 2)
        cache.set("c", for: 3)
        #expect(cache.value(for: 1) == "a")  // 1 is now the most recent; 2 the least.
        cache.set("d", for: 4)
        #expect(cache.value(for: 2) == nil)
        #expect(cache.value(for: 1) == "a")
        #expect(cache.value(for: 3) == "c")
        #expect(cache.value(for: 4) == "d")
        #expect(cache.count == 3)
    }

    @Test func updatingAnEntryMakesItTheMostRecent() {
        var cache = LRUCache<Int, Int>(capacity: 2)
        cache.set(1, for: 1)
        cache.set(2, for: 2)
        cache.set(10, for: 1)
        cache.set(3, for: 3)
        #expect(cache.value(for: 2) == nil)
        #expect(cache.value(for: 1) == 10)
    }

    @Test func removedSlotsAreReused() {
        var cache = LRUCache<Int, Int>(capacity: 2)
        cache.set(1, for: 1)
        cache.set(2, for: 2)
        cache.removeValue(for: 1)
        cache.set(3, for: 3)
        #expect(cache.count == 2)
        #expect(cache.value(for: 2) == 2)
        #expect(cache.value(for: 3) == 3)
        cache.removeAll()
        #expect(cache.count == 0)
        cache.set(4, for: 4)
        #expect(cache.value(for: 4) == 4)
    }

    @Test func holdsNoMoreThanItsCapacityUnderChurn() {
        var cache = LRUCache<Int, Int>(capacity: 100)
        for key in 0..<10_000 {
            cache.set(key, for: key)
            if key % 3 == 0 { cache.removeValue(for: key - 1) }
        }
        #expect(cache.count <= 100)
        #expect(cache.value(for: 9_999) == 9_999)
    }

    @Test func aZeroCapacityCacheKeepsNothing() {
        var cache = LRUCache<Int, Int>(capacity: 0)
        cache.set(1, for: 1)
        #expect(cache.value(for: 1) == nil)
    }

    @Test func matchesAReferenceModelUnderRandomOperations() {
        // A list ordered from least to most recently used is the model; every operation of the cache, including
        // removals from the middle (which move the last entry into the hole), must leave the same contents in the
        // same recency order.
        var cache = LRUCache<Int, Int>(capacity: 50)
        var model: [(key: Int, value: Int)] = []
        var random = SplitMix64(seed: 17)
        for step in 0..<20_000 {
            let key = Int(random.next() % 120)
            switch random.next() % 4 {
            case 0:
                let expected = model.firstIndex { $0.key == key }.map { model.remove(at: $0) }
                if let expected { model.append(expected) }
                #expect(cache.value(for: key) == expected?.value, "step \(step)")
            case 1:
                model.removeAll { $0.key == key }
                cache.removeValue(for: key)
            default:
                model.removeAll { $0.key == key }
                if model.count == 50 { model.removeFirst() }
                model.append((key, step))
                cache.set(step, for: key)
            }
            #expect(cache.count == model.count, "step \(step)")
        }
        // Reading every key back in recency order, least recent first, leaves the order unchanged.
        for (key, value) in model { #expect(cache.value(for: key) == value) }
        cache.set(-1, for: -1)
        #expect(cache.value(for: model[0].key) == nil)
    }

    @Test func growsItsStorageToTheCapacityAndNoFurther() {
        var cache = LRUCache<Int, Int>(capacity: 1_000)
        for key in 0..<5_000 { cache.set(key, for: key) }
        #expect(cache.count == 1_000)
        #expect(cache.reserved == 1_000)
    }
}
