/// The console's stylesheet and script, compiled in: the pages need nothing from any other server.
enum ConsoleAssets {
    static let stylesheet = """
        :root { color-scheme: light dark; --accent: #2b6cb0; --quiet: #718096; }
        body { font: 15px/1.45 system-ui, sans-serif; margin: 0; }
        header { display: flex; gap: 1.5rem; align-items: baseline; padding: .6rem 1.2rem; border-bottom: 1px solid #8884; }
        header nav a { margin-right: 1rem; }
        .brand { font-weight: 700; }
        a { color: var(--accent); text-decoration: none; }
        a:hover { text-decoration: underline; }
        main { padding: 0 1.2rem 2rem; max-width: 80rem; }
        table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
        th, td { text-align: left; padding: .25rem .6rem .25rem 0; border-bottom: 1px solid #8883; vertical-align: top; }
        td { overflow-wrap: anywhere; }
        .figures { display: flex; flex-wrap: wrap; gap: 2rem; }
        .figures dt, .fields dt { color: var(--quiet); font-size: .85rem; }
        .figures dd { font-size: 1.8rem; margin: 0; font-variant-numeric: tabular-nums; }
        .fields div { display: flex; gap: 1rem; } .fields dt { width: 9rem; } .fields dd { margin: 0; }
        .chart { width: 100%; max-width: 60rem; height: 8rem; border: 1px solid #8884; }
        .chart rect { fill: var(--accent); }
        pre { background: #8881; padding: .8rem; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
        .quiet { color: var(--quiet); } .problem { color: #c53030; }
        """

    /// Live updates over server-sent events: figures change by `textContent` only, so nothing received is parsed
    /// as markup.
    static let script = """
        "use strict";
        (function () {
          const mode = document.body.dataset.live;
          if (!mode || typeof EventSource === "undefined") { return; }
          const set = (id, value) => { const node = document.getElementById(id); if (node) { node.textContent = value; } };
          const svg = "http://www.w3.org/2000/svg";
          function drawChart(samples) {
            const chart = document.getElementById("throughput-chart");
            if (!chart) { return; }
            while (chart.firstChild) { chart.removeChild(chart.firstChild); }
            const recent = samples.slice(-600);
            const peak = Math.max(1, ...recent.map((s) => s.eventsPerSecond));
            recent.forEach((sample, index) => {
              const height = Math.round(sample.eventsPerSecond / peak * 110);
              const bar = document.createElementNS(svg, "rect");
              bar.setAttribute("x", String(index)); bar.setAttribute("width", "1");
              bar.setAttribute("y", String(120 - height)); bar.setAttribute("height", String(height));
              chart.appendChild(bar);
            });
          }
          const head = document.getElementById("head-position");
          const after = head ? head.textContent.trim() : "0";
          const source = new EventSource(mode === "log" ? "/api/live?tail=true&after=" + encodeURIComponent(after) : "/api/live");
          source.addEventListener("overview", (message) => {
            const overview = JSON.parse(message.data);
            set("head-position", String(overview.headPosition));
            set("events-per-second", overview.eventsPerSecond.toFixed(1));
            set("stream-count", String(overview.streamCount));
            set("indexed-position", String(overview.indexedPosition));
            drawChart(overview.throughput);
          });
          source.addEventListener("event", (message) => {
            const event = JSON.parse(message.data);
            const body = document.getElementById("live-tail");
            if (!body) { return; }
            const row = document.createElement("tr");
            [String(event.position), event.streamID, String(event.version), event.type, event.recordedAt].forEach((value) => {
              const cell = document.createElement("td"); cell.textContent = value; row.appendChild(cell);
            });
            body.insertBefore(row, body.firstChild);
            while (body.children.length > 100) { body.removeChild(body.lastChild); }
          });
        })();
        """
}
