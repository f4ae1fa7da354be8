import Foundation
import Tracker

/// A saga's timeline drawn to scale, as SVG: one row per event, a bar spanning the gap since the previous event
/// and a mark at the event itself, coloured by the service that produced it. Where the time went is what an
/// operator looks for first, and a table of timestamps hides it.
struct Waterfall {
    var timeline: [SagaStatus.TimelineEntry]

    static let labelWidth = 250.0
    static let chartWidth = 560.0
    static let gapWidth = 110.0
    static let rowHeight = 26.0
    static let top = 28.0

    /// Services get fixed colours; others a neutral one.
    static func colour(_ service: String) -> String {
        switch service {
        case "tracker": "#5b6478"
        case "inventory": "#2f7d4f"
        case "payment": "#3156d3"
        case "notification": "#b5651d"
        default: "#7a4fb8"
        }
    }

    /// Milliseconds from the first event to each one, to the microsecond the events carry (so 100 ms stored as
    /// 100.00002 after the Date arithmetic is still a 100 ms axis, not a 200 ms one).
    var offsets: [Double] {
        guard let first = timeline.first?.at else { return [] }
        return timeline.map { ($0.at.timeIntervalSince(first) * 1_000_000).rounded() / 1000 }
    }

    /// The time axis' extent: the last offset, rounded up to a round number so the ticks read well.
    var span: Double {
        Self.niceCeiling(offsets.last ?? 0)
    }

    /// x of an offset, in the chart's coordinates.
    func x(_ offset: Double) -> Double {
        Self.labelWidth + (span > 0 ? offset / span * Self.chartWidth : 0)
    }

    var svg: HTML {
        guard !timeline.isEmpty else { return "<p class=\"muted\">No events.</p>" }
        let offsets = self.offsets
        let width = Self.labelWidth + Self.chartWidth + Self.gapWidth
        let height = Self.top + Double(timeline.count) * Self.rowHeight + 8
        var parts: [HTML] = []
        for tick in 0...4 {
            let offset = span * Double(tick) / 4
            let tx = Self.coordinate(x(offset))
            parts.append("""
                <line class="grid" x1="\(tx)" y1="\(Self.coordinate(Self.top - 6))" x2="\(tx)" y2="\(Self.coordinate(height - 4))"/>\
                <text class="small" x="\(tx)" y="14" text-anchor="middle">\(Format.duration(milliseconds: offset))</text>
                """)
        }
        for (index, entry) in timeline.enumerated() {
            let y = Self.top + Double(index) * Self.rowHeight
            let colour = Self.colour(entry.service)
            let start = index == 0 ? offsets[0] : offsets[index - 1]
            let barX = x(start)
            let barWidth = max(x(offsets[index]) - barX, 2)
            let gap = entry.sincePreviousMs.map { "+" + Format.duration(milliseconds: $0) } ?? "start"
            parts.append("""
                <g class="event"><title>\(entry.name) · \(entry.service) · \(Format.clock(entry.at)) · \(gap)</title>\
                <text x="0" y="\(Self.coordinate(y + 16))">\(entry.name)</text>\
                <text class="small" x="\(Self.coordinate(Self.labelWidth - 10))" y="\(Self.coordinate(y + 16))" text-anchor="end">\(entry.service)</text>\
                <rect x="\(Self.coordinate(barX))" y="\(Self.coordinate(y + 8))" width="\(Self.coordinate(barWidth))" height="10" rx="2" fill="\(colour)" opacity="0.35"/>\
                <circle cx="\(Self.coordinate(x(offsets[index])))" cy="\(Self.coordinate(y + 13))" r="5" fill="\(colour)"/>\
                <text class="small" x="\(Self.coordinate(Self.labelWidth + Self.chartWidth + 12))" y="\(Self.coordinate(y + 16))">\(gap)</text></g>
                """)
        }
        let services = Array(Set(timeline.map(\.service))).sorted()
        let legend = services.map { service -> HTML in "<span><i style=\"background:\(Self.colour(service))\"></i>\(service)</span>" }
        return """
            <svg class="waterfall" role="img" aria-label="Timeline drawn to scale" width="\(Self.coordinate(width))" height="\(Self.coordinate(height))" viewBox="0 0 \(Self.coordinate(width)) \(Self.coordinate(height))">\(parts)</svg>
            <div class="legend">\(legend)</div>
            """
    }

    static func coordinate(_ value: Double) -> String {
        String(format: "%.1f", value)
    }

    /// The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above `value` (at least 1 ms).
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 1 else { return 1 }
        let magnitude = pow(10, floor(log10(value)))
        for step in [1.0, 2.0, 2.5, 5.0, 10.0] where step * magnitude >= value { return step * magnitude }
        return 10 * magnitude
    }
}
