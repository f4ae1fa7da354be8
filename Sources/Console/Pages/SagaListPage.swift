import Foundation
import Tracker

/// `/`: sagas newest first, filtered by state, time range and id prefix, a page at a time, with the count of
/// each state for the same range and prefix.
struct SagaListPage {
    var filter: SagaFilter
    /// The filter as the operator typed it (ages such as `30m` stay as typed in the form).
    var query: ListQuery
    var sagas: [SagaSummary]
    var counts: [String: Int]
    var refresh: Int?

    var html: HTML {
        let total = counts.values.reduce(0, +)
        let chips = [chip(label: "all", state: nil, count: total)] + SagaState.allCases.map { chip(label: $0.rawValue, state: $0.rawValue, count: counts[$0.rawValue] ?? 0) }
        let rows = sagas.map { saga -> HTML in
            let took: HTML = if let started = saga.startedAt, let finished = saga.finishedAt {
                "\(Format.duration(milliseconds: finished.timeIntervalSince(started) * 1000))"
            } else { "<span class=\"muted\">–</span>" }
            let waiting: HTML = saga.currentStep.map { "\($0) <span class=\"muted\">(\(saga.waitingFor ?? "?"))</span>" } ?? "–"
            return """
                <tr><td><a href="/sagas/\(URLComponent.encode(saga.sagaID))">\(saga.sagaID)</a></td><td>\(Layout.badge(saga.state))</td>
                <td>\(waiting)</td><td>\(Layout.time(saga.startedAt))</td><td class="num">\(took)</td><td class="error">\(saga.error ?? "")</td></tr>
                """
        }
        let table: HTML = sagas.isEmpty
            ? "<p class=\"panel muted\">No saga matches.</p>"
            : """
                <table><thead><tr><th>Saga</th><th>State</th><th>Waiting for</th><th>Started</th><th class="num">Took</th><th>Error</th></tr></thead>
                <tbody>\(rows)</tbody></table>
                """
        return Layout.page(title: "Sagas", section: .sagas, refresh: refresh, """
            <h1>Sagas</h1>
            <div class="chips">\(chips)</div>
            \(form)
            \(table)
            \(pager)
            """)
    }

    private func chip(label: String, state: String?, count: Int) -> HTML {
        var target = query
        target.state = state
        target.page = 1
        let current: HTML = query.state == state ? " class=\"current\"" : ""
        return "<a\(current) href=\"/?\(target.encoded)\">\(label)<b>\(count)</b></a>"
    }

    private var form: HTML {
        let states = ([""] + SagaState.allCases.map(\.rawValue)).map { state -> HTML in
            let selected: HTML = (query.state ?? "") == state ? " selected" : ""
            return "<option value=\"\(state)\"\(selected)>\(state.isEmpty ? "any" : state)</option>"
        }
        return """
            <form class="filters" method="get" action="/">
            <label>State <select name="state">\(states)</select></label>
            <label>Started since <input name="since" value="\(query.since ?? "")" placeholder="30m or 2026-12-05T06:00:00Z" size="24"></label>
            <label>Started before <input name="until" value="\(query.until ?? "")" placeholder="RFC 3339 or age" size="24"></label>
            <label>Id starts with <input name="prefix" value="\(query.prefix ?? "")" size="16"></label>
            <button type="submit">Filter</button>
            <a href="/">clear</a>
            </form>
            """
    }

    private var pager: HTML {
        var parts: [HTML] = []
        if query.page > 1 {
            var newer = query
            newer.page -= 1
            parts.append("<a href=\"/?\(newer.encoded)\">← newer</a>")
        }
        parts.append("<span>page \(query.page)</span>")
        if sagas.count == filter.limit {
            var older = query
            older.page += 1
            parts.append("<a href=\"/?\(older.encoded)\">older →</a>")
        }
        return "<div class=\"pager\">\(parts)</div>"
    }
}
