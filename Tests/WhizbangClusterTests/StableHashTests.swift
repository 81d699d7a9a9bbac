import Testing
import Whizbang
import WhizbangCluster

@Suite("Stable hash")
struct StableHashTests {
    @Test("FNV-1a 64 matches the published test vectors")
    func vectors() {
        #expect(StableHash.fnv1a64("") == 0xcbf2_9ce4_8422_2325)
        #expect(StableHash.fnv1a64("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(StableHash.fnv1a64("foobar") == 0x8594_4171_f739_67e8)
    }

    @Test("a stream's partition is fixed and in range", arguments: [1, 7, 256])
    func partitionInRange(count: Int) {
        for index in 0..<1000 {
            let streamID = StreamID("account-\(index)")
            let partition = StableHash.partition(of: streamID, count: count)
            #expect((0..<count).contains(partition))
            #expect(StableHash.partition(of: streamID, count: count) == partition)
        }
    }

    @Test("streams spread over the partitions")
    func spread() {
        var counts = [Int](repeating: 0, count: 16)
        for index in 0..<16_000 { counts[StableHash.partition(of: StreamID("account-\(index)"), count: 16)] += 1 }
        #expect(counts.allSatisfy { (800...1200).contains($0) }, "\(counts)")
    }
}
