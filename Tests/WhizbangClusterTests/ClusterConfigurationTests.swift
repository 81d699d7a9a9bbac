import Testing

@testable import WhizbangCluster

/// How the cluster's configuration turns durations into SQL intervals.
@Suite("Cluster configuration")
struct ClusterConfigurationTests {
    @Test("a duration meant as never gives the longest interval instead of trapping; others round up to milliseconds")
    func durationsInMilliseconds() {
        #expect(Duration.seconds(Int64.max).wholeMilliseconds == 1_000_000_000_000_000)
        #expect(Duration.milliseconds(1_500).wholeMilliseconds == 1_500)
        #expect(Duration.nanoseconds(1).wholeMilliseconds == 1)
    }
}
