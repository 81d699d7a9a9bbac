import Testing
@testable import Whizbang

/// `ChunkedLog` reads back what was appended, across chunk boundaries.
@Suite struct ChunkedLogTests {
    @Test func appendsAndReadsAcrossChunks() {
        var log = ChunkedLog<Int>()
        #expect(log.count == 0)
        #expect(log.elements(in: 0..<0).isEmpty)
        // Uneven batches, so that appends and reads straddle the 16,384-element chunks.
        var expected: [Int] = []
        var next = 0
        for size in [1, 7, 16_380, 3, 1, 40_000, 5] {
            let batch = Array(next..<next + size)
            log.append(contentsOf: batch)
            expected += batch
            next += size
        }
        #expect(log.count == expected.count)
        for index in [0, 1, 16_383, 16_384, 16_385, 32_767, 32_768, expected.count - 1] {
            #expect(log[index] == expected[index])
        }
        for range in [0..<expected.count, 16_380..<16_390, 16_384..<32_768, 5..<6, 40_000..<40_000] {
            #expect(log.elements(in: range) == Array(expected[range]))
        }
    }
}
