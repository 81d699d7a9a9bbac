/// The MT19937 generator of 32-bit numbers, seeded exactly as CPython's `random.Random(seed)` seeds an integer.
///
/// CPython does not use the reference `init_genrand(seed)`: it splits the seed's absolute value into 32-bit words,
/// least significant first, and calls the reference `init_by_array` with them (a seed below 2^32 is the key
/// `[seed]`). So `MersenneTwister(seed: 42)` yields the numbers `random.Random(42).getrandbits(32)` yields:
/// 2746317213, 478163327, 107420369, 3184935163, 1181241943, 1051802512, …
struct MersenneTwister {
    private static let stateSize = 624
    private static let shift = 397

    private var state: [UInt32]
    private var index: Int

    /// A generator seeded like CPython's `random.Random(seed)` for a non-negative integer seed.
    init(seed: UInt64) {
        var key: [UInt32] = [UInt32(truncatingIfNeeded: seed)]
        if seed >> 32 != 0 { key.append(UInt32(truncatingIfNeeded: seed >> 32)) }
        self.init(key: key)
    }

    /// A generator seeded with the reference `init_by_array(key)`.
    init(key: [UInt32]) {
        precondition(!key.isEmpty, "init_by_array needs at least one key word")
        let n = Self.stateSize
        var mt = [UInt32](repeating: 0, count: n)
        // init_genrand(19650218)
        mt[0] = 19_650_218
        for i in 1..<n {
            mt[i] = 1_812_433_253 &* (mt[i - 1] ^ (mt[i - 1] >> 30)) &+ UInt32(i)
        }
        var i = 1
        var j = 0
        for _ in 0..<max(n, key.count) {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) &* 1_664_525)) &+ key[j] &+ UInt32(j)
            i += 1
            j += 1
            if i >= n {
                mt[0] = mt[n - 1]
                i = 1
            }
            if j >= key.count { j = 0 }
        }
        for _ in 0..<(n - 1) {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) &* 1_566_083_941)) &- UInt32(i)
            i += 1
            if i >= n {
                mt[0] = mt[n - 1]
                i = 1
            }
        }
        mt[0] = 0x8000_0000
        self.state = mt
        self.index = n
    }

    /// The next 32-bit output.
    mutating func next() -> UInt32 {
        if index >= Self.stateSize { regenerate() }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    private mutating func regenerate() {
        let n = Self.stateSize
        let m = Self.shift
        for k in 0..<n {
            let y = (state[k] & 0x8000_0000) | (state[(k + 1) % n] & 0x7FFF_FFFF)
            var value = state[(k + m) % n] ^ (y >> 1)
            if y & 1 != 0 { value ^= 0x9908_B0DF }
            state[k] = value
        }
        index = 0
    }
}
