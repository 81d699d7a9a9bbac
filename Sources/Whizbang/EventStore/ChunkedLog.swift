/// An append-only sequence stored in fixed-size chunks, so that growing it never copies what it already holds.
///
/// A plain array doubles its storage as it grows, copying every element into memory the kernel must first zero; for
/// the in-memory store's log that copy ran under the store's lock and stalled every appender for the time it took to
/// move the whole log. Here each chunk is allocated once, at its full capacity, and never moves.
struct ChunkedLog<Element> {
    /// Elements per chunk: 2^14.
    private static var chunkShift: Int { 14 }
    private static var chunkSize: Int { 1 << chunkShift }

    private var chunks: [[Element]] = []
    private(set) var count = 0

    /// The element at `index`, which must be below ``count``.
    subscript(index: Int) -> Element {
        precondition(index >= 0 && index < count, "index out of range")
        return chunks[index >> Self.chunkShift][index & (Self.chunkSize - 1)]
    }

    /// Appends `elements` in order.
    mutating func append(contentsOf elements: some Collection<Element>) {
        for element in elements {
            if count & (Self.chunkSize - 1) == 0 {
                var chunk: [Element] = []
                chunk.reserveCapacity(Self.chunkSize)
                chunks.append(chunk)
            }
            chunks[chunks.count - 1].append(element)
            count += 1
        }
    }

    /// The elements at `range`, in order.
    func elements(in range: Range<Int>) -> [Element] {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "range out of bounds")
        var result: [Element] = []
        result.reserveCapacity(range.count)
        var index = range.lowerBound
        while index < range.upperBound {
            let chunk = index >> Self.chunkShift
            let offset = index & (Self.chunkSize - 1)
            let end = min(range.upperBound - index, Self.chunkSize - offset) + offset
            result.append(contentsOf: chunks[chunk][offset..<end])
            index += end - offset
        }
        return result
    }
}

extension ChunkedLog: Sendable where Element: Sendable {}
