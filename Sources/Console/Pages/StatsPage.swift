import Foundation
import Tracker

/// `/stats`: sagas per state, time to a terminal state, and sagas started per minute over the last hour as a
/// stacked bar chart (by the state each is in now).
struct StatsPage {
    var stats: SagaStats
    var perMinute: [MinuteCount]
    /// The chart's first minute; it spans sixty.
    var from: Date
    var refresh: Int?

    static let colours: [String: String] = [
        "completed": "#2f9e5b", "compensated": "#7b4fd0", "failed": "#d04545", "compensation_failed": "#8a1212",
        "running": "#3f6fe0", "compensating": "#e0a020",
    ]

    var html: HTML {
        let d = stats.timeToTerminal
        func ms(_ value: Double?) -> String { value.map { Format.duration(milliseconds: $0) } ?? "–" }
        let states = SagaState.allCases.map { state -> HTML in
            "<tr><td>\(Layout.badge(state.rawValue))</td><td class=\"num\">\(stats.byState[state.rawValue] ?? 0)</td></tr>"
        }
        return Layout.page(title: "Stats", section: .stats, refresh: refresh, """
            <h1>Stats</h1>
            <h2>Sagas started per minute, last hour</h2>
            <div class="panel">\(chart)</div>
            <h2>Sagas by state</h2>
            <table style="max-width:420px"><tbody>\(states)<tr><th>total</th><th class="num">\(stats.total)</th></tr></tbody></table>
            <h2>Time to a terminal state</h2>
            <table style="max-width:620px"><thead><tr><th class="num">Sagas</th><th class="num">p50</th><th class="num">p95</th><th class="num">p99</th><th class="num">max</th></tr></thead>
            <tbody><tr><td class="num">\(d.count)</td><td class="num">\(ms(d.p50Ms))</td><td class="num">\(ms(d.p95Ms))</td><td class="num">\(ms(d.p99Ms))</td><td class="num">\(ms(d.maxMs))</td></tr></tbody></table>
            """)
    }

    /// Sixty bars, one a minute, stacked by state; the y axis up to a round number.
    var chart: HTML {
        let left = 44.0, width = 720.0, height = 180.0, top = 10.0
        let byMinute = Dictionary(perMinute.map { (Int($0.minute.timeIntervalSince(from) / 60), $0) }) { first, _ in first }
        let peak = Waterfall.niceCeiling(Double(max(perMinute.map(\.total).max() ?? 0, 1)))
        let slot = width / 60
        var parts: [HTML] = []
        for tick in 0...4 {
            let value = peak * Double(tick) / 4
            let y = top + height - height * Double(tick) / 4
            parts.append("""
                <line class="grid" x1="\(Waterfall.coordinate(left))" y1="\(Waterfall.coordinate(y))" x2="\(Waterfall.coordinate(left + width))" y2="\(Waterfall.coordinate(y))"/>\
                <text class="small" x="\(Waterfall.coordinate(left - 6))" y="\(Waterfall.coordinate(y + 4))" text-anchor="end">\(String(format: "%g", value))</text>
                """)
        }
        let order = ["completed", "compensated", "failed", "compensation_failed", "compensating", "running"]
        for index in 0..<60 {
            guard let minute = byMinute[index] else { continue }
            var base = top + height
            for state in order {
                let count = minute.byState[state] ?? 0
                guard count > 0 else { continue }
                let barHeight = height * Double(count) / peak
                base -= barHeight
                parts.append("""
                    <rect x="\(Waterfall.coordinate(left + Double(index) * slot + 1))" y="\(Waterfall.coordinate(base))" width="\(Waterfall.coordinate(slot - 2))" height="\(Waterfall.coordinate(barHeight))" fill="\(Self.colours[state] ?? "#999")"><title>\(Format.clock(minute.minute)): \(count) \(state)</title></rect>
                    """)
            }
        }
        for index in stride(from: 0, through: 60, by: 15) {
            let x = left + Double(index) * slot
            let label = index == 60 ? "now" : "−\(60 - index) min"
            parts.append("<text class=\"small\" x=\"\(Waterfall.coordinate(x))\" y=\"\(Waterfall.coordinate(top + height + 16))\" text-anchor=\"middle\">\(label)</text>")
        }
        let legend = order.map { state -> HTML in "<span><i style=\"background:\(Self.colours[state] ?? "#999")\"></i>\(state)</span>" }
        return """
            <svg class="per-minute" role="img" aria-label="Sagas started per minute" width="\(Waterfall.coordinate(left + width + 10))" height="\(Waterfall.coordinate(top + height + 24))">\(parts)</svg>
            <div class="legend">\(legend)</div>
            """
    }
}

/// A page for what went wrong: a bad query (400), an unknown saga (404), a database out of reach (503).
struct MessagePage {
    var title: String
    var message: String

    var html: HTML {
        Layout.page(title: title, section: nil, """
            <h1>\(title)</h1>
            <p class="panel">\(message)</p>
            <p><a href="/">All sagas</a></p>
            """)
    }
}
