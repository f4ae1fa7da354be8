import Foundation
import Tracker

/// `/sagas/<id>`: one saga's state, error, steps and compensations, its timeline as a waterfall and a table, and
/// its dead letters. A saga in `compensation_failed` gets retry and skip forms when actions are on, addressed to
/// the service that parked the compensation.
struct SagaPage {
    var report: SagaStatusReport
    var deadLetters: [TrackedDeadLetter]
    var actionsEnabled: Bool
    var refresh: Int?

    /// The services holding a parked compensation of this saga: the producers of its failure events that nothing
    /// settled since (a later success or skip), newest first.
    var parkingServices: [String] {
        guard report.status.state == .compensationFailed else { return [] }
        let types = Set(report.status.timeline.map(\.eventType))
        var seen: [String] = []
        for entry in report.status.timeline.reversed() {
            guard let settledBy = SagaProjection.compensationFailureSettledBy[entry.eventType], types.isDisjoint(with: settledBy) else { continue }
            if !seen.contains(entry.service) { seen.append(entry.service) }
        }
        return seen
    }

    var html: HTML {
        let s = report.status
        let took: HTML = if let started = s.startedAt, let finished = s.finishedAt {
            "\(Format.duration(milliseconds: finished.timeIntervalSince(started) * 1000))"
        } else { "–" }
        let waiting: HTML = s.currentStep.map { "\($0) (\(s.waitingFor ?? "?"))" } ?? "–"
        let error: HTML = s.error.map { "<span class=\"error\">\($0)</span>" } ?? "–"
        let rows = s.timeline.map { entry -> HTML in
            """
            <tr><td>\(Layout.time(entry.at))</td><td class="num">\(entry.sincePreviousMs.map { "+" + Format.duration(milliseconds: $0) } ?? "")</td>
            <td>\(entry.name)</td><td class="muted">\(entry.eventType)</td><td>\(entry.service)</td><td>\(entry.note ?? "")</td></tr>
            """
        }
        let deadLetterCount: HTML = report.deadLetters == 0 ? "0"
            : "<a href=\"/dead-letters?saga=\(URLComponent.encode(s.sagaID))\"><span class=\"error\">\(report.deadLetters)</span></a>"
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
            <dt>Dead letters</dt><dd>\(deadLetterCount)</dd>
            </dl>
            \(actions)
            <h2>Timeline</h2>
            <div class="panel">\(Waterfall(timeline: s.timeline).svg)</div>
            <table><thead><tr><th>Time</th><th class="num">Since previous</th><th>Step / event</th><th>Event type</th><th>Service</th><th>Note</th></tr></thead>
            <tbody>\(rows)</tbody></table>
            \(deadLetterTable)
            <p class="muted"><a href="/api/sagas/\(URLComponent.encode(s.sagaID))">JSON</a> · the same as <code>saga-tracker status \(s.sagaID) --json</code></p>
            """)
    }

    private var actions: HTML {
        let services = parkingServices
        guard !services.isEmpty else { return .empty }
        guard actionsEnabled else {
            return """
                <p class="notice">A compensation failed for good and is parked in \(services.joined(separator: ", ")): \
                <code>\(services[0])-service compensations list</code>, then <code>retry</code> or <code>skip --reason</code> \
                (or start the console with <code>--allow-actions</code>).</p>
                """
        }
        return """
            <h2>Parked compensation</h2>
            <div class="panel"><p>Retry runs it again in the service, now; skip records that it will not happen, and why, so the saga goes on.</p>
            \(services.map { ActionForms.compensation(sagaID: report.status.sagaID, service: $0) })</div>
            """
    }

    private var deadLetterTable: HTML {
        guard !deadLetters.isEmpty else { return .empty }
        let rows = deadLetters.map { letter -> HTML in
            let action: HTML = actionsEnabled ? "<td class=\"actions\">\(ActionForms.redrive(id: letter.id, service: letter.service))</td>" : .empty
            return """
                <tr><td>\(Layout.time(letter.time))</td><td>\(letter.service)</td><td class="error">\(letter.reason)</td>
                <td><code>\(letter.sourceTopic):\(String(letter.sourcePartition)):\(String(letter.sourceOffset))</code></td><td class="muted"><code>\(letter.id)</code></td>\(action)</tr>
                """
        }
        let actionHeader: HTML = actionsEnabled ? "<th>Redrive</th>" : .empty
        return """
            <h2>Dead letters</h2>
            <table><thead><tr><th>Time</th><th>Refused by</th><th>Reason</th><th>Source</th><th>Id</th>\(actionHeader)</tr></thead>
            <tbody>\(rows)</tbody></table>
            """
    }

    static func list(_ items: [String]) -> HTML {
        items.isEmpty ? "–" : "\(items.joined(separator: ", "))"
    }
}
