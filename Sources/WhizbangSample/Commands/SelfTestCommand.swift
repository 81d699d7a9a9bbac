import ArgumentParser

/// Checks the workload's random numbers against CPython's: `random.Random(42).getrandbits(32)` six times.
struct SelfTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest", abstract: "Check the MT19937 outputs against CPython's.", shouldDisplay: false)

    static let expected: [UInt32] = [2_746_317_213, 478_163_327, 107_420_369, 3_184_935_163, 1_181_241_943, 1_051_802_512]

    func run() async throws {
        var twister = MersenneTwister(seed: 42)
        let outputs = (0..<6).map { _ in twister.next() }
        print("MT19937 seed 42: \(outputs.map(String.init).joined(separator: " "))")
        guard outputs == Self.expected else {
            throw SampleError("MT19937 outputs differ from CPython's: expected \(Self.expected), got \(outputs)")
        }
        // A seed past 32 bits is split into two key words, as CPython does.
        var wide = MersenneTwister(seed: 1 << 32 | 5)
        print("MT19937 seed 2^32+5: \(wide.next())")
        print("ok")
    }
}
