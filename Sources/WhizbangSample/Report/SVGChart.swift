import Foundation
import WhizbangConsole

/// Inline SVG charts for a ``ChartReport``: a line chart over time and a bar chart, drawn as plain elements with
/// their values in `data-` attributes, so that the file needs no script and no network to show or to check.
enum SVGChart {
    /// One line of a line chart.
    struct Series {
        /// The CSS class that colours the line.
        var styleClass: String
        var name: String
        /// Points as (seconds from the start, value, count behind the value).
        var points: [(seconds: Double, value: Double, count: Int)]
    }

    /// One bar of a bar chart: the things whose value lies in `lower ..< upper`.
    struct Bar {
        var lower: UInt64
        var upper: UInt64
        var count: UInt64
    }

    static let width = 720.0
    static let height = 260.0
    private static let left = 70.0
    private static let right = 16.0
    private static let top = 12.0
    private static let bottom = 36.0

    /// A line chart of `series` over `seconds`; `logarithmic` draws the value axis in powers of ten.
    static func lineChart(
        id: String, series: [Series], seconds: Double, valueLabel: (Double) -> String, logarithmic: Bool
    ) -> String {
        let values = series.flatMap { $0.points.map(\.value) }.filter { $0 > 0 || !logarithmic }
        guard !values.isEmpty, seconds > 0 else { return empty(id: id) }
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        let scale: (Double) -> Double
        var ticks: [Double]
        if logarithmic {
            let low = floor(log10(max(1, values.min()!)))
            let high = max(low + 1, ceil(log10(values.max()!)))
            scale = { value in (log10(max(value, 1)) - low) / (high - low) }
            ticks = stride(from: low, through: high, by: 1).map { pow(10, $0) }
        } else {
            let high = niceCeiling(values.max()!)
            scale = { value in value / high }
            ticks = (0...4).map { high * Double($0) / 4 }
        }
        func x(_ second: Double) -> Double { left + plotWidth * min(1, max(0, second / seconds)) }
        func y(_ value: Double) -> Double { top + plotHeight * (1 - min(1, max(0, scale(value)))) }

        var svg = open(id: id)
        for tick in ticks {
            let position = y(tick)
            svg += "<line class=\"grid\" x1=\"\(f(left))\" y1=\"\(f(position))\" x2=\"\(f(width - right))\" "
                + "y2=\"\(f(position))\"/>"
            svg += "<text class=\"axis\" x=\"\(f(left - 6))\" y=\"\(f(position + 4))\" text-anchor=\"end\">"
                + "\(HTMLText.escape(valueLabel(tick)))</text>"
        }
        // Enough decimals that the five ticks of a short run do not round to the same label.
        let tickFormat = "%.\(max(1, Int(1 - floor(log10(seconds / 4)))))f s"
        for index in 0...4 {
            let second = seconds * Double(index) / 4
            svg += "<text class=\"axis\" x=\"\(f(x(second)))\" y=\"\(f(height - bottom + 16))\" "
                + "text-anchor=\"middle\">\(HTMLText.escape(String(format: tickFormat, second)))</text>"
        }
        for line in series where !line.points.isEmpty {
            let points = line.points.map { "\(f(x($0.seconds))),\(f(y($0.value)))" }.joined(separator: " ")
            svg += "<g class=\"series \(line.styleClass)\" data-name=\"\(HTMLText.escape(line.name))\">"
            svg += "<polyline points=\"\(points)\"/>"
            for point in line.points {
                svg += "<circle cx=\"\(f(x(point.seconds)))\" cy=\"\(f(y(point.value)))\" r=\"2\" "
                    + "data-seconds=\"\(f(point.seconds))\" data-value=\"\(f(point.value))\" "
                    + "data-count=\"\(point.count)\"><title>\(HTMLText.escape(line.name)) at "
                    + "\(String(format: "%.1f", point.seconds)) s: \(HTMLText.escape(valueLabel(point.value)))</title>"
                    + "</circle>"
            }
            svg += "</g>"
        }
        svg += "<line class=\"frame\" x1=\"\(f(left))\" y1=\"\(f(height - bottom))\" x2=\"\(f(width - right))\" "
            + "y2=\"\(f(height - bottom))\"/>"
        return svg + "</svg>"
    }

    /// A bar chart of `bars`, each labelled below by its lower bound.
    static func barChart(id: String, bars: [Bar], boundLabel: (UInt64) -> String) -> String {
        guard let highest = bars.map(\.count).max(), highest > 0 else { return empty(id: id) }
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        let top = niceCeiling(Double(highest))
        let slot = plotWidth / Double(bars.count)
        var svg = open(id: id)
        for index in 0...4 {
            let value = top * Double(index) / 4
            let position = Self.top + plotHeight * (1 - value / top)
            svg += "<line class=\"grid\" x1=\"\(f(left))\" y1=\"\(f(position))\" x2=\"\(f(width - right))\" "
                + "y2=\"\(f(position))\"/>"
            svg += "<text class=\"axis\" x=\"\(f(left - 6))\" y=\"\(f(position + 4))\" text-anchor=\"end\">"
                + "\(Formatting.grouped(value))</text>"
        }
        let labelEvery = max(1, bars.count / 8)
        for (index, bar) in bars.enumerated() {
            let barHeight = plotHeight * Double(bar.count) / top
            let x = left + slot * Double(index)
            svg += "<rect class=\"bar\" x=\"\(f(x + 1))\" y=\"\(f(Self.top + plotHeight - barHeight))\" "
                + "width=\"\(f(max(1, slot - 2)))\" height=\"\(f(barHeight))\" data-lower=\"\(bar.lower)\" "
                + "data-upper=\"\(bar.upper)\" data-count=\"\(bar.count)\"><title>"
                + "\(HTMLText.escape(boundLabel(bar.lower))) to \(HTMLText.escape(boundLabel(bar.upper))): "
                + "\(Formatting.grouped(Int(bar.count)))</title></rect>"
            if index % labelEvery == 0 {
                svg += "<text class=\"axis\" x=\"\(f(x))\" y=\"\(f(height - bottom + 16))\" text-anchor=\"start\">"
                    + "\(HTMLText.escape(boundLabel(bar.lower)))</text>"
            }
        }
        svg += "<line class=\"frame\" x1=\"\(f(left))\" y1=\"\(f(height - bottom))\" x2=\"\(f(width - right))\" "
            + "y2=\"\(f(height - bottom))\"/>"
        return svg + "</svg>"
    }

    /// The smallest of 1, 2 or 5 times a power of ten that is at least `value`.
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        let power = pow(10, floor(log10(value)))
        for step in [1.0, 2, 5, 10] where step * power >= value { return step * power }
        return 10 * power
    }

    private static func open(id: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"\(HTMLText.escape(id))\" viewBox=\"0 0 \(f(width)) \(f(height))\" "
            + "width=\"\(f(width))\" height=\"\(f(height))\" role=\"img\">"
    }

    private static func empty(id: String) -> String {
        open(id: id) + "<text class=\"axis\" x=\"\(f(width / 2))\" y=\"\(f(height / 2))\" text-anchor=\"middle\">"
            + "nothing recorded</text></svg>"
    }

    private static func f(_ value: Double) -> String { String(format: "%.1f", value) }
}
