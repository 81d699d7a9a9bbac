#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Whole-microsecond timestamps, the form envelopes and hops encode dates in.
///
/// A `Date` is a `Double` of seconds since 2001, so a date rounded here and decoded from its microseconds is the same
/// `Double` again: envelopes round their dates once, when they are made, and then survive encoding unchanged.
extension Date {
    /// Microseconds from 1970-01-01 to 2001-01-01, the reference date `Date` counts from.
    private static let referenceDateMicroseconds: Int64 = 978_307_200_000_000

    /// The date as whole microseconds since 1970-01-01 UTC, rounded to the nearest and clamped to `Int64`.
    var microsecondsSince1970: Int64 {
        // Counting from the reference date keeps the product below 2^53 for dates within ±285 years of 2001, so the
        // conversion is exact and decoding then encoding gives back the same integer.
        let microseconds = (timeIntervalSinceReferenceDate * 1_000_000).rounded()
        guard microseconds.isFinite else { return microseconds < 0 ? .min : .max }
        guard let whole = Int64(exactly: microseconds) else { return microseconds < 0 ? .min : .max }
        let (sum, overflow) = whole.addingReportingOverflow(Self.referenceDateMicroseconds)
        return overflow ? .max : sum
    }

    /// The date a number of microseconds after 1970-01-01 UTC.
    init(microsecondsSince1970: Int64) {
        let (sinceReference, overflow) = microsecondsSince1970.subtractingReportingOverflow(
            Self.referenceDateMicroseconds
        )
        let microseconds = overflow ? Double(microsecondsSince1970) - 978_307_200_000_000 : Double(sinceReference)
        self.init(timeIntervalSinceReferenceDate: microseconds / 1_000_000)
    }

    /// The date rounded to the nearest whole microsecond.
    var roundedToMicroseconds: Date {
        Date(microsecondsSince1970: microsecondsSince1970)
    }
}
