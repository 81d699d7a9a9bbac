import Foundation
import WhizbangConsole
import Histogram

/// The pictures of a run: one self-contained HTML file with the run's figures and three inline SVG charts — the rate
/// over time, latency percentiles over time and a latency histogram.
///
/// The file loads nothing (a Content-Security-Policy forbids every fetch, there is no script) and is well-formed
/// XML as well as HTML, so a browser shows it offline and an XML parser can check it. Every value that comes from
/// outside (a database path) is escaped. Each figure carries its exact value in a `data-value` attribute, each
/// point and bar the count behind it in `data-count`.
struct ChartReport {
    /// One line of the summary table.
    struct Figure {
        /// The `id` of the table cell, for tools that read the file.
        var id: String
        var label: String
        /// The exact value, as `--json` prints it.
        var value: String
        /// The value as shown.
        var text: String
    }

    var title: String
    var subject: String
    var figures: [Figure]
    /// What finishes, in the plural: "commands", "events".
    var rateNoun: String
    /// What the latency measures, e.g. "command latency".
    var latencyNoun: String
    var timeline: RunTimeline
    /// Every latency of the run, in microseconds.
    var latency: Histogram<UInt64>

    /// The percentiles drawn over time.
    static let percentiles: [(name: String, value: Double, styleClass: String)] = [
        ("p50", 50, "p50"), ("p90", 90, "p90"), ("p99", 99, "p99"),
    ]

    var html: String {
        var page = "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\"><head>"
        page += "<meta charset=\"utf-8\"/>"
        page += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\"/>"
        page += "<title>\(HTMLText.escape(title))</title><style>\(Self.style)</style></head><body>"
        page += "<h1>\(HTMLText.escape(title))</h1><p id=\"subject\">\(HTMLText.escape(subject))</p>"
        page += "<table id=\"figures\"><tbody>"
        for figure in figures {
            page += "<tr><th>\(HTMLText.escape(figure.label))</th><td id=\"\(HTMLText.escape(figure.id))\" "
                + "data-value=\"\(HTMLText.escape(figure.value))\">\(HTMLText.escape(figure.text))</td></tr>"
        }
        page += "</tbody></table>"
        page += "<h2>\(HTMLText.escape(rateNoun.capitalizedFirst)) per second</h2>"
        page += SVGChart.lineChart(
            id: "rate", series: [rateSeries], seconds: seconds, valueLabel: { Formatting.grouped($0) },
            logarithmic: false)
        page += "<h2>\(HTMLText.escape(latencyNoun.capitalizedFirst)) percentiles over time</h2>"
        page += "<p class=\"legend\">"
        for percentile in Self.percentiles {
            page += "<span class=\"\(percentile.styleClass)\">\(percentile.name)</span> "
        }
        page += "(logarithmic scale)</p>"
        page += SVGChart.lineChart(
            id: "latency-over-time", series: percentileSeries, seconds: seconds,
            valueLabel: { Self.duration(microseconds: $0) }, logarithmic: true)
        page += "<h2>\(HTMLText.escape(latencyNoun.capitalizedFirst)) histogram</h2>"
        page += "<p class=\"legend\">How many latencies fell in each bucket; each bucket is twice as wide as the last</p>"
        page += SVGChart.barChart(
            id: "latency-histogram", bars: histogramBars, boundLabel: { Self.duration(microseconds: Double($0)) })
        page += "<p class=\"legend\">Intervals of \(String(format: "%.1f", timeline.intervalSeconds)) s; "
            + "latencies from an HdrHistogram with 3 significant digits (2 per interval).</p>"
        return page + "</body></html>\n"
    }

    private var seconds: Double {
        timeline.intervals.isEmpty
            ? 0 : Double(timeline.intervals.count - 1) * timeline.intervalSeconds
                + timeline.width(ofInterval: timeline.intervals.count - 1)
    }

    private func middle(of index: Int) -> Double {
        Double(index) * timeline.intervalSeconds + timeline.width(ofInterval: index) / 2
    }

    var rateSeries: SVGChart.Series {
        SVGChart.Series(
            styleClass: "rate", name: "\(rateNoun)/s",
            points: timeline.intervals.enumerated().map { index, interval in
                (middle(of: index), Double(interval.count) / timeline.width(ofInterval: index), interval.count)
            })
    }

    var percentileSeries: [SVGChart.Series] {
        Self.percentiles.map { percentile in
            SVGChart.Series(
                styleClass: percentile.styleClass, name: percentile.name,
                points: timeline.intervals.enumerated().compactMap { index, interval in
                    interval.count == 0
                        ? nil
                        : (middle(of: index), Double(interval.latency.valueAtPercentile(percentile.value)),
                            interval.count)
                })
        }
    }

    /// The histogram in buckets `[2^k, 2^(k+1))` microseconds, from the smallest recorded latency to the largest.
    var histogramBars: [SVGChart.Bar] {
        guard latency.totalCount > 0 else { return [] }
        func bucket(_ value: UInt64) -> Int { value <= 1 ? 0 : (63 - value.leadingZeroBitCount) }
        var counts: [Int: UInt64] = [:]
        for recorded in latency.recordedValues() where recorded.countAddedInThisIterationStep > 0 {
            counts[bucket(recorded.value), default: 0] += recorded.countAddedInThisIterationStep
        }
        let low = counts.keys.min()!
        let high = counts.keys.max()!
        return (low...high).map { index in
            SVGChart.Bar(lower: 1 << UInt64(index), upper: 1 << UInt64(index + 1), count: counts[index] ?? 0)
        }
    }

    /// `microseconds` as µs, ms or s, whichever reads best.
    static func duration(microseconds: Double) -> String {
        switch microseconds {
        case ..<1_000: String(format: "%.0f µs", microseconds)
        case ..<1_000_000: String(format: microseconds < 10_000 ? "%.1f ms" : "%.0f ms", microseconds / 1_000)
        default: String(format: "%.2f s", microseconds / 1_000_000)
        }
    }

    private static let style = """
        body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330;max-width:760px}\
        h1{font-size:20px}h2{font-size:16px;margin-top:28px}\
        table{border-collapse:collapse}th{text-align:left;font-weight:normal;color:#5a6270;padding:2px 16px 2px 0}\
        td{text-align:right;font-variant-numeric:tabular-nums}\
        svg{display:block;background:#fafbfc;border:1px solid #e3e6ea}\
        .grid{stroke:#e3e6ea}.frame{stroke:#9aa1ab}.axis{font-size:11px;fill:#5a6270}\
        polyline{fill:none;stroke-width:1.5}circle{stroke:none}\
        .rate polyline{stroke:#2563eb}.rate circle{fill:#2563eb}\
        .p50 polyline{stroke:#16a34a}.p50 circle{fill:#16a34a}span.p50{color:#16a34a}\
        .p90 polyline{stroke:#d97706}.p90 circle{fill:#d97706}span.p90{color:#d97706}\
        .p99 polyline{stroke:#dc2626}.p99 circle{fill:#dc2626}span.p99{color:#dc2626}\
        .bar{fill:#6366f1}.legend{color:#5a6270;font-size:12px}
        """
}

extension String {
    /// The string with its first character in upper case.
    fileprivate var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}
