import Foundation
import ProcessTesting
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

extension SampleProcessSuites {
    @Suite("run --report and replay --report: the pictures of a run", .serialized)
    struct ChartReportTests {
        @Test("run --report writes well-formed HTML with SVG charts whose numbers are the run's; the path is escaped")
        func runReport() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                // A directory whose name is markup: it appears in the report and must show as text.
                let odd = directory.appendingPathComponent("<b>&\"x'")
                try FileManager.default.createDirectory(at: odd, withIntermediateDirectories: true)
                let database = odd.appendingPathComponent("ledger.sqlite").path
                let reportPath = directory.appendingPathComponent("run.html").path
                let output = try await SampleProcess.run([
                    "run", "--database", database, "--accounts", "300", "--commands", "6000", "--initial-deposit",
                    "50", "--durability", "normal", "--json", "--quiet", "--report", reportPath,
                ])
                #expect(output.status == 0, "\(output.standardOutput)\(output.standardError)")
                #expect(output.standardOutput.contains("report: \(reportPath)\n"))
                let json = try output.json
                let report = try ReportDocument(path: reportPath)

                #expect(report.text(ofID: "subject")?.hasPrefix("\(database):") == true)
                #expect(report.value(ofID: "commands") == "\(json["commands"] as? Int ?? -1)")
                #expect(report.value(ofID: "accepted") == "\(json["accepted"] as? Int ?? -1)")
                #expect(report.value(ofID: "rejected") == "\(json["rejected"] as? Int ?? -1)")
                for (id, key) in [("p50", "p50Micros"), ("p90", "p90Micros"), ("p99", "p99Micros"), ("p999", "p999Micros")] {
                    #expect(report.value(ofID: id) == "\(json[key] as? Int ?? -1)", "\(id)")
                }
                let rate = try #require(json["commandsPerSecond"] as? Double)
                #expect(report.value(ofID: "commands-per-second") == String(format: "%.1f", rate))

                // Three charts; every command is counted once over time and once in the histogram.
                #expect(report.svgIDs == ["rate", "latency-over-time", "latency-histogram"])
                #expect(report.counts(in: "rate", element: "circle").reduce(0, +) == 6_000)
                #expect(report.counts(in: "latency-histogram", element: "rect").reduce(0, +) == 6_000)
                #expect(report.counts(in: "latency-over-time", element: "circle").count >= 3)
                #expect(report.elementNames.isDisjoint(with: ["script", "link", "img", "iframe", "object"]))
            }
        }

        @Test("the time axis of a run of well under a second has five distinct labels")
        func shortRunTimeAxis() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let reportPath = directory.appendingPathComponent("short.html").path
                let output = try await SampleProcess.run([
                    "run", "--database", directory.appendingPathComponent("ledger.sqlite").path, "--accounts", "20",
                    "--commands", "300", "--durability", "normal", "--quiet", "--report", reportPath,
                ])
                #expect(output.status == 0, "\(output.standardOutput)\(output.standardError)")
                let html = try String(contentsOfFile: reportPath, encoding: .utf8)
                let timeLabels = html.matches(of: /text-anchor="middle">([0-9.]+) s</).map { String($0.output.1) }
                #expect(timeLabels.count == 10, "\(timeLabels)")
                for chart in stride(from: 0, to: timeLabels.count, by: 5) {
                    let labels = timeLabels[chart..<min(chart + 5, timeLabels.count)]
                    #expect(Set(labels).count == labels.count, "\(labels)")
                }
            }
        }

        @Test("replay --report charts the events replayed; its figures are the replay's")
        func replayReport() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let database = directory.appendingPathComponent("ledger.sqlite").path
                let run = try await SampleProcess.run([
                    "run", "--database", database, "--accounts", "500", "--commands", "20000", "--durability",
                    "normal", "--quiet",
                ])
                #expect(run.status == 0, "\(run.standardOutput)\(run.standardError)")
                let reportPath = directory.appendingPathComponent("replay.html").path
                let output = try await SampleProcess.run(["replay", "--database", database, "--json", "--report", reportPath])
                #expect(output.status == 0, "\(output.standardOutput)\(output.standardError)")
                #expect(output.standardOutput.contains("report: \(reportPath)\n"))
                let json = try output.json
                let report = try ReportDocument(path: reportPath)
                let events = try #require(json["events"] as? Int)
                #expect(report.value(ofID: "events") == "\(events)")
                #expect(report.counts(in: "rate", element: "circle").reduce(0, +) == events)
                let batches = try #require(Int(report.value(ofID: "batches") ?? ""))
                #expect(batches == (events + 8_191) / 8_192)
                #expect(report.counts(in: "latency-histogram", element: "rect").reduce(0, +) == batches)
            }
        }

        @Test("a report never replaces a file: run and replay refuse before they start, and the file is unchanged")
        func refusesAnExistingFile() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let reportPath = directory.appendingPathComponent("notes.html").path
                try Data("not ours\n".utf8).write(to: URL(fileURLWithPath: reportPath))
                let database = directory.appendingPathComponent("ledger.sqlite").path
                let run = try await SampleProcess.run([
                    "run", "--database", database, "--accounts", "10", "--commands", "10", "--quiet", "--report",
                    reportPath,
                ])
                #expect(run.status == 2)
                #expect(run.standardError.contains("exists; a report never replaces a file"), "\(run.standardError)")
                #expect(!FileManager.default.fileExists(atPath: database), "the run must not start")

                let created = try await SampleProcess.run([
                    "run", "--database", database, "--accounts", "10", "--commands", "10", "--quiet",
                ])
                #expect(created.status == 0, "\(created.standardError)")
                let replay = try await SampleProcess.run(["replay", "--database", database, "--report", reportPath])
                #expect(replay.status == 2)
                #expect(replay.standardError.contains("exists; a report never replaces a file"), "\(replay.standardError)")
                #expect(try String(contentsOfFile: reportPath, encoding: .utf8) == "not ours\n")
                let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path)
                    .filter { $0.hasSuffix(".partial") }
                #expect(leftovers.isEmpty)
            }
        }
    }
}

/// A report file parsed as XML (the report is polyglot HTML): its elements, their attributes and texts.
private struct ReportDocument {
    struct Element {
        var name: String
        var attributes: [String: String]
        /// The `id` of the innermost enclosing `svg`, if any.
        var svg: String?
        var text = ""
    }

    private(set) var elements: [Element] = []

    init(path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let collector = Collector()
        let parser = XMLParser(data: data)
        parser.delegate = collector
        guard parser.parse() else {
            throw SampleTestError("the report is not well-formed: \(String(describing: parser.parserError))")
        }
        elements = collector.elements
        #expect(elements.first?.name == "html")
    }

    var elementNames: Set<String> { Set(elements.map(\.name)) }
    var svgIDs: [String] { elements.filter { $0.name == "svg" }.compactMap { $0.attributes["id"] } }

    func value(ofID id: String) -> String? { elements.first { $0.attributes["id"] == id }?.attributes["data-value"] }
    func text(ofID id: String) -> String? { elements.first { $0.attributes["id"] == id }?.text }

    /// The `data-count` of every `element` inside the chart `svg`.
    func counts(in svg: String, element: String) -> [Int] {
        elements.filter { $0.svg == svg && $0.name == element }.compactMap { $0.attributes["data-count"].flatMap { Int($0) } }
    }

    private final class Collector: NSObject, XMLParserDelegate {
        var elements: [Element] = []
        var open: [Int] = []
        var svg: [String] = []

        func parser(
            _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            if elementName == "svg" { svg.append(attributes["id"] ?? "") }
            open.append(elements.count)
            elements.append(Element(name: elementName, attributes: attributes, svg: svg.last))
        }

        func parser(
            _ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?
        ) {
            open.removeLast()
            if elementName == "svg" { svg.removeLast() }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            for index in open { elements[index].text += string }
        }
    }
}
