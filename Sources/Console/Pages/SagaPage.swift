import Foundation
import Tracker

/// `/sagas/<id>`: one saga's state, error, steps and compensations, and its timeline as a waterfall and a table.
struct SagaPage {
    var status: SagaStatus
    var refresh: Int?

    var html: HTML {
        let s = status
        let took: HTML = if let started = s.startedAt, let finished = s.finishedAt {
            "\(Format.duration(milliseconds: finished.timeIntervalSince(started) * 1000))"
        } else { "–" }
        let waiting: HTML = s.currentStep.map { "\($0) (\(s.waitingFor ?? "?"))" } ?? "–"
        let error: HTML = s.error.map { "<span class=\"error\">\($0)</span>" } ?? "–"
        let rows = s.timeline.map { entry -> HTML in
            """
            <tr><td>\(Layout.time(entry.at))</td><td class="num">\(entry.sincePreviousMs.map { "+" + Format.duration(milliseconds: $0) } ?? "")</td>
            <td>\(entry.name)</td><td class="muted">\(entry.eventType)</td><td>\(entry.service)</td></tr>
            """
        }
        return Layout.page(title: "Saga \(s.sagaID)", section: nil, refresh: refresh, """
            <h1>Saga \(s.sagaID) \(Layout.badge(s.state.rawValue))</h1>
            <dl class="facts">
            <dt>State</dt><dd>\(s.state.rawValue)</dd>
            <dt>Error</dt><dd>\(error)</dd>
            <dt>Steps done</dt><dd>\(Self.list(s.completedSteps))</dd>
            <dt>Compensations</dt><dd>\(Self.list(s.compensations))</dd>
            <dt>Waiting for</dt><dd>\(waiting)</dd>
            <dt>Started</dt><dd>\(Layout.time(s.startedAt))</dd>
            <dt>Finished</dt><dd>\(Layout.time(s.finishedAt))</dd>
            <dt>Took</dt><dd>\(took)</dd>
            <dt>Events</dt><dd>\(s.eventCount)</dd>
            </dl>
            <h2>Timeline</h2>
            <div class="panel">\(Waterfall(timeline: s.timeline).svg)</div>
            <table><thead><tr><th>Time</th><th class="num">Since previous</th><th>Step / event</th><th>Event type</th><th>Service</th></tr></thead>
            <tbody>\(rows)</tbody></table>
            <p class="muted"><a href="/api/sagas/\(URLComponent.encode(s.sagaID))">JSON</a> · the same as <code>saga-tracker status \(s.sagaID) --json</code></p>
            """)
    }

    static func list(_ items: [String]) -> HTML {
        items.isEmpty ? "–" : "\(items.joined(separator: ", "))"
    }
}
