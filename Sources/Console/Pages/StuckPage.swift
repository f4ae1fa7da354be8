import Foundation
import Tracker

/// `/stuck`: running or compensating sagas silent for longer than `older_than`, longest silent first.
struct StuckPage {
    /// The page lists at most this many, the longest silent: after an outage there can be far more.
    static let shownAtMost = 500

    var query: StuckQuery
    var sagas: [SagaSummary]
    var now: Date
    var refresh: Int?

    var html: HTML {
        let rows = sagas.map { saga -> HTML in
            """
            <tr><td><a href="/sagas/\(URLComponent.encode(saga.sagaID))">\(saga.sagaID)</a></td><td>\(Layout.badge(saga.state))</td>
            <td>\(saga.currentStep ?? "–") <span class="muted">(\(saga.waitingFor ?? "?"))</span></td>
            <td class="num">\(Format.duration(milliseconds: now.timeIntervalSince(saga.updatedAt) * 1000))</td><td>\(Layout.time(saga.updatedAt))</td></tr>
            """
        }
        let table: HTML = sagas.isEmpty
            ? "<p class=\"panel muted\">No saga has been silent for longer than \(query.olderThan).</p>"
            : """
                <table><thead><tr><th>Saga</th><th>State</th><th>Waiting for</th><th class="num">Silent for</th><th>Last event</th></tr></thead>
                <tbody>\(rows)</tbody></table>
                """
        let more: HTML = sagas.count >= Self.shownAtMost
            ? "<p class=\"muted\">The \(Self.shownAtMost) silent longest; there may be more (<code>saga-tracker stuck --limit</code> lists more).</p>"
            : ""
        return Layout.page(title: "Stuck sagas", section: .stuck, refresh: refresh, """
            <h1>Stuck sagas</h1>
            <form class="filters" method="get" action="/stuck">
            <label>Silent for longer than <input name="older_than" value="\(query.olderThan)" size="8"></label>
            <button type="submit">Show</button>
            </form>
            \(table)
            \(more)
            """)
    }
}
