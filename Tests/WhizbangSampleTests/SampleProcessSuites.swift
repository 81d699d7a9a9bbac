import Testing

/// Every suite that runs the sample as a child process, one test at a time: each child runs a ledger that keeps both
/// cores busy, and several at once left the rest of the run's tests without CPU.
@Suite(.serialized)
struct SampleProcessSuites {}
