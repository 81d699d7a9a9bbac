import Testing

@testable import WhizbangCluster

/// How a node narrows a refused batch down to the command the database refuses.
@Suite("Batch refusals")
struct BatchRefusalsTests {
    @Test("a refused batch halves down to one row, which fails alone at its second refusal; commits double it back")
    func narrowsThenWidens() {
        var refusals = BatchRefusals()
        #expect(refusals.limit == nil)
        #expect(refusals.refused(Array(1...8)) == .retry)
        #expect(refusals.limit == 4)
        #expect(refusals.refused(Array(1...4)) == .retry)
        #expect(refusals.limit == 2)
        refusals.committed(size: 8, appended: true)
        #expect(refusals.limit == 4)
        #expect(refusals.refused([3, 4, 5, 6]) == .retry)
        #expect(refusals.refused([3, 4]) == .retry)
        #expect(refusals.refused([3]) == .retry)
        #expect(refusals.limit == 1)
        #expect(refusals.refused([3]) == .failAlone)
        #expect(refusals.limit == nil)
    }

    @Test("a lone row refused once and then committed is not failed by a later refusal of another lone row")
    func secondRefusalMustBeOfTheSameRow() {
        var refusals = BatchRefusals()
        #expect(refusals.refused([7]) == .retry)
        refusals.committed(size: 8, appended: true)
        #expect(refusals.limit == 2)
        #expect(refusals.refused([9]) == .retry)
        #expect(refusals.refused([7]) == .retry)
        #expect(refusals.refused([7]) == .failAlone)
        refusals.committed(size: 8, appended: true)
        #expect(refusals.limit == nil)
    }

    @Test("when every batch is refused, no row fails: the probe past the lone refused row is refused too")
    func aRefusalOfEveryRowFailsNone() {
        var refusals = BatchRefusals()
        for _ in 0..<3 {
            #expect(refusals.refused(Array(1...4)) == .retry)
            #expect(refusals.refused([1, 2]) == .retry)
            #expect(refusals.refused([1]) == .retry)
            #expect(refusals.refused([1]) == .retry)
            #expect(refusals.probeAfter == 1)
            #expect(refusals.limit == 1)
            #expect(refusals.refused([2]) == .retry)
            #expect(refusals.limit == nil)
            #expect(refusals.probeAfter == nil)
        }
    }

    @Test("a refused row that comes first fails once the probe past it commits")
    func aRefusedFirstRowFailsAfterAProbe() {
        var refusals = BatchRefusals()
        #expect(refusals.refused([1, 2, 3, 4]) == .retry)
        #expect(refusals.refused([1, 2]) == .retry)
        #expect(refusals.refused([1]) == .retry)
        #expect(refusals.refused([1]) == .retry)
        #expect(refusals.probeAfter == 1)
        refusals.committed(size: 8, appended: true)
        #expect(refusals.probeAfter == nil)
        #expect(refusals.refused([1, 3]) == .retry)
        #expect(refusals.refused([1]) == .failAlone)
        #expect(refusals.limit == nil)
    }

    /// A probe, or a batch, of commands that the aggregates rejected commits without an append: the database's
    /// refusal of every append then failed the refused row as if the database took other commands.
    @Test("a commit that appended nothing is no evidence: the refused row does not fail")
    func aCommitWithoutAppendsIsNoEvidence() {
        var refusals = BatchRefusals()
        #expect(refusals.refused([1]) == .retry)
        #expect(refusals.refused([1]) == .retry)
        #expect(refusals.probeAfter == 1)
        refusals.committed(size: 8, appended: false)
        #expect(refusals.probeAfter == 1)
        #expect(refusals.refused([1]) != .failAlone)

        var narrowed = BatchRefusals()
        #expect(narrowed.refused([1, 2]) == .retry)
        narrowed.committed(size: 8, appended: false)
        #expect(narrowed.refused([1]) == .retry)
        #expect(narrowed.refused([1]) == .retry)
        #expect(narrowed.probeAfter == 1)
    }
}
