import HTTPTypes
import Whizbang

/// The console's HTML pages, rendered on the server from the same values the JSON API returns.
///
/// Every value from the store goes through ``HTMLText`` escaping; the pages load only the console's own stylesheet
/// and script (no inline script or style, which the Content-Security-Policy forbids anyway).
enum ConsolePages {
    /// The frame every page shares: head, navigation, and the page's body.
    static func page(title: String, live: StaticString? = nil, _ body: (inout HTMLText) -> Void) -> String {
        var html = HTMLText()
        html.raw("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">")
        html.raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        html.raw("<title>")
        html.text(title)
        html.raw(" · Whizbang console</title><link rel=\"stylesheet\" href=\"/assets/console.css\">")
        html.raw("<script src=\"/assets/console.js\" defer></script></head>")
        if let live {
            html.raw("<body data-live=\"")
            html.raw(live)
            html.raw("\">")
        } else {
            html.raw("<body>")
        }
        html.raw("<header><a class=\"brand\" href=\"/\">Whizbang</a><nav>")
        html.raw("<a href=\"/\">Overview</a><a href=\"/streams\">Streams</a><a href=\"/log\">Log</a>")
        html.raw("<a href=\"/projections\">Projections</a></nav></header><main>")
        html.element("h1", title)
        body(&html)
        html.raw("</main></body></html>")
        return html.html
    }

    static func overview(_ overview: OverviewView) -> String {
        page(title: "Overview", live: "overview") { html in
            html.raw("<dl class=\"figures\"><div><dt>Head position</dt>")
            html.element("dd", String(overview.headPosition), id: "head-position")
            html.raw("</div><div><dt>Events per second</dt>")
            html.element("dd", Self.rate(overview.eventsPerSecond), id: "events-per-second")
            html.raw("</div><div><dt>Streams</dt>")
            html.element("dd", String(overview.streamCount), id: "stream-count")
            html.raw("</div><div><dt>Catalog read up to</dt>")
            html.element("dd", String(overview.indexedPosition), id: "indexed-position")
            if let bytes = overview.storeBytes {
                html.raw("</div><div><dt>Store size</dt>")
                html.element("dd", Self.size(bytes), id: "store-size")
            }
            html.raw("</div></dl><h2>Events per second, last minutes</h2>")
            throughputChart(&html, overview.throughput)
            html.raw("<h2>Projections</h2>")
            projectionTable(&html, overview.projections)
            if overview.showsCluster {
                html.raw("<p><a href=\"/cluster\">Cluster nodes and partition owners</a></p>")
            }
        }
    }

    static func cluster(_ cluster: ClusterStatus) -> String {
        page(title: "Cluster") { html in
            html.raw("<h2>Nodes</h2>")
            if cluster.nodes.isEmpty { html.raw("<p class=\"quiet\">No node has joined.</p>") }
            html.raw("<table id=\"nodes\"><thead><tr><th>Node</th><th>Member</th><th>Last heartbeat</th>")
            html.raw("<th>State</th></tr></thead><tbody>")
            for node in cluster.nodes {
                html.raw("<tr>")
                html.element("td", node.nodeID)
                html.element("td", node.member)
                html.element("td", rate(node.secondsSinceHeartbeat) + " s ago")
                html.element(
                    "td", node.stopped ? "stopped" : node.isSilent ? "silent for longer than its lease" : "running")
                html.raw("</tr>")
            }
            html.raw("</tbody></table><h2>Partition owners</h2>")
            var owners: [String: (count: Int, live: Int, epochs: ClosedRange<Int64>)] = [:]
            for partition in cluster.partitions {
                let owner = partition.owner ?? ""
                var entry = owners[owner] ?? (0, 0, partition.epoch...partition.epoch)
                entry.count += 1
                if partition.secondsOfLeaseLeft > 0 { entry.live += 1 }
                entry.epochs = min(entry.epochs.lowerBound, partition.epoch)...max(entry.epochs.upperBound, partition.epoch)
                owners[owner] = entry
            }
            html.raw("<table id=\"owners\"><thead><tr><th>Owner</th><th>Partitions</th><th>Live leases</th>")
            html.raw("<th>Epochs</th></tr></thead><tbody>")
            for (owner, entry) in owners.sorted(by: { $0.key < $1.key }) {
                html.raw("<tr>")
                html.element("td", owner.isEmpty ? "(none)" : owner)
                html.element("td", String(entry.count))
                html.element("td", String(entry.live))
                html.element("td", "\(entry.epochs.lowerBound)–\(entry.epochs.upperBound)")
                html.raw("</tr>")
            }
            html.raw("</tbody></table><h2>Partitions</h2>")
            html.raw("<table id=\"partitions\"><thead><tr><th>Partition</th><th>Owner</th><th>Epoch</th>")
            html.raw("<th>Lease</th></tr></thead><tbody>")
            for partition in cluster.partitions {
                html.raw("<tr>")
                html.element("td", String(partition.partition))
                html.element("td", partition.owner ?? "(none)")
                html.element("td", String(partition.epoch))
                html.element(
                    "td",
                    partition.secondsOfLeaseLeft > 0 ? rate(partition.secondsOfLeaseLeft) + " s left" : "expired")
                html.raw("</tr>")
            }
            html.raw("</tbody></table>")
        }
    }

    static func throughputChart(_ html: inout HTMLText, _ samples: [ThroughputSample]) {
        let peak = max(1, samples.map(\.eventsPerSecond).max() ?? 1)
        html.raw("<svg id=\"throughput-chart\" class=\"chart\" viewBox=\"0 0 600 120\" role=\"img\" ")
        html.raw("aria-label=\"events per second over time\">")
        for (index, sample) in samples.suffix(600).enumerated() {
            let height = Int((sample.eventsPerSecond / peak * 110).rounded())
            html.raw("<rect width=\"1\" x=\"")
            html.text(index)
            html.raw("\" y=\"")
            html.text(120 - height)
            html.raw("\" height=\"")
            html.text(height)
            html.raw("\"></rect>")
        }
        html.raw("</svg>")
    }

    static func projectionTable(_ html: inout HTMLText, _ projections: [ProjectionView]) {
        guard !projections.isEmpty else {
            html.raw("<p class=\"quiet\">No projections are configured.</p>")
            return
        }
        html.raw("<table id=\"projections\"><thead><tr><th>Name</th><th>Checkpoint</th><th>Lag (events)</th>")
        html.raw("<th>Lag (seconds)</th><th>State</th><th>Runner</th></tr></thead><tbody>")
        for projection in projections {
            html.raw("<tr>")
            html.element("td", projection.name)
            html.element("td", projection.checkpoint.map(String.init) ?? "–")
            html.element("td", String(projection.lagEvents))
            html.element("td", Self.rate(projection.lagSeconds))
            html.element("td", projection.state)
            if let error = projection.error {
                html.raw("<td class=\"problem\">")
                html.text((projection.runner ?? "") + ": " + error)
                html.raw("</td>")
            } else {
                html.element("td", projection.runner ?? "–")
            }
            html.raw("</tr>")
        }
        html.raw("</tbody></table>")
    }

    static func projections(_ projections: [ProjectionView]) -> String {
        page(title: "Projections") { html in projectionTable(&html, projections) }
    }

    static func streams(_ page: StreamsPage) -> String {
        self.page(title: "Streams") { html in
            html.raw("<form method=\"get\" action=\"/streams\"><label>Id starts with ")
            html.raw("<input name=\"prefix\" value=\"")
            html.text(page.prefix)
            html.raw("\"></label> <button type=\"submit\">Filter</button></form>")
            guard !page.streams.isEmpty else {
                html.raw("<p class=\"quiet\">No streams.</p>")
                return
            }
            html.raw("<table id=\"streams\"><thead><tr><th>Stream</th><th>Version</th><th>Last position</th></tr>")
            html.raw("</thead><tbody>")
            for stream in page.streams {
                html.raw("<tr><td>")
                html.link("/stream?id=" + HTMLText.percentEncoded(stream.streamID.rawValue), stream.streamID.rawValue)
                html.raw("</td>")
                html.element("td", String(stream.version))
                html.element("td", String(stream.lastPosition))
                html.raw("</tr>")
            }
            html.raw("</tbody></table>")
            if let next = page.next {
                html.raw("<p>")
                html.link(
                    "/streams?prefix=" + HTMLText.percentEncoded(page.prefix) + "&after="
                        + HTMLText.percentEncoded(next), "Next page")
                html.raw("</p>")
            }
        }
    }

    static func stream(_ page: StreamPage) -> String {
        self.page(title: "Stream " + page.streamID) { html in
            html.raw("<p>Version ")
            html.text(page.version)
            html.raw("</p>")
            eventTable(&html, page.events, showStream: false)
            if let next = page.next {
                html.raw("<p>")
                html.link("/stream?id=" + HTMLText.percentEncoded(page.streamID) + "&from=" + String(next), "Next page")
                html.raw("</p>")
            }
        }
    }

    static func log(_ page: LogPage) -> String {
        self.page(title: "Global log", live: "log") { html in
            html.raw("<p>Head position <span id=\"head-position\">")
            html.text(page.headPosition)
            html.raw("</span></p>")
            eventTable(&html, page.events, showStream: true)
            if let next = page.next {
                html.raw("<p>")
                html.link("/log?after=" + String(next), "Next page")
                html.raw("</p>")
            }
            html.raw("<h2>Live tail</h2><table><thead><tr><th>Position</th><th>Stream</th><th>Version</th>")
            html.raw("<th>Type</th><th>Recorded</th></tr></thead><tbody id=\"live-tail\"></tbody></table>")
        }
    }

    static func eventTable(_ html: inout HTMLText, _ events: [EventView], showStream: Bool) {
        guard !events.isEmpty else {
            html.raw("<p class=\"quiet\">No events.</p>")
            return
        }
        html.raw("<table class=\"events\"><thead><tr><th>Position</th>")
        if showStream { html.raw("<th>Stream</th>") }
        html.raw("<th>Version</th><th>Type</th><th>Recorded</th><th>Correlation</th><th>Causation</th></tr>")
        html.raw("</thead><tbody>")
        for event in events {
            html.raw("<tr><td>")
            html.link("/events/" + String(event.position), String(event.position))
            html.raw("</td>")
            if showStream {
                html.raw("<td>")
                html.link("/stream?id=" + HTMLText.percentEncoded(event.streamID), event.streamID)
                html.raw("</td>")
            }
            html.element("td", String(event.version))
            html.element("td", event.type)
            html.element("td", event.recordedAt)
            messageCell(&html, event.correlationID)
            messageCell(&html, event.causationID)
            html.raw("</tr>")
        }
        html.raw("</tbody></table>")
    }

    static func event(_ event: EventView) -> String {
        page(title: "Event " + String(event.position)) { html in
            html.raw("<dl class=\"fields\">")
            field(&html, "Stream") { $0.link("/stream?id=" + HTMLText.percentEncoded(event.streamID), event.streamID) }
            field(&html, "Version") { $0.text(event.version) }
            field(&html, "Type") { $0.text(event.type) }
            field(&html, "Event id") { $0.text(event.eventID) }
            field(&html, "Recorded") { $0.text(event.recordedAt) }
            field(&html, "Message id") { messageLink(&$0, event.messageID) }
            field(&html, "Correlation id") { messageLink(&$0, event.correlationID) }
            field(&html, "Causation id") { messageLink(&$0, event.causationID) }
            html.raw("</dl><h2>Payload</h2>")
            html.element("pre", event.payload, id: "payload")
            html.raw("<h2>Metadata</h2>")
            html.element("pre", event.metadata, id: "metadata")
        }
    }

    /// A table cell with a link to the message `id` names, or an empty cell.
    private static func messageCell(_ html: inout HTMLText, _ id: String?) {
        html.raw("<td>")
        messageLink(&html, id)
        html.raw("</td>")
    }

    /// A link to `/messages/{id}` when `id` is a message id; other text as it is, escaped.
    private static func messageLink(_ html: inout HTMLText, _ id: String?) {
        guard let id, !id.isEmpty else { return }
        if let messageID = MessageID(id) {
            html.link("/messages/" + messageID.description, id)
        } else {
            html.text(id)
        }
    }

    private static func field(_ html: inout HTMLText, _ name: StaticString, _ value: (inout HTMLText) -> Void) {
        html.raw("<div><dt>")
        html.raw(name)
        html.raw("</dt><dd>")
        value(&html)
        html.raw("</dd></div>")
    }

    static func error(_ error: ConsoleRequestError) -> String {
        page(title: "\(error.status.code) \(error.status.reasonPhrase)") { html in
            html.element("p", error.message, id: "error-message")
            html.raw("<p><a href=\"/\">Back to the overview</a></p>")
        }
    }

    static func login(failed: Bool) -> String {
        page(title: "Sign in") { html in
            if failed { html.raw("<p class=\"problem\">That token is not the console's access token.</p>") }
            html.raw("<form method=\"post\" action=\"/login\"><label>Access token ")
            html.raw("<input type=\"password\" name=\"token\" autocomplete=\"off\"></label> ")
            html.raw("<button type=\"submit\">Sign in</button></form>")
        }
    }

    /// A size in bytes as KiB, MiB or GiB with one decimal.
    static func size(_ bytes: Int) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) bytes" : rate(value) + " " + units[unit]
    }

    /// A rate or a duration with one decimal.
    static func rate(_ value: Double) -> String {
        let tenths = (value * 10).rounded()
        return String(Int(tenths) / 10) + "." + String(abs(Int(tenths)) % 10)
    }
}
