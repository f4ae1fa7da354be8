import Foundation
import Tracker

/// `/dead-letters`: every service's dead letters as the tracker recorded them, newest first: who refused it, why,
/// the message key and where it came from. Never a payload (the tracker does not keep one). With actions on, each
/// row has a redrive form, acted on by the refusing service.
struct DeadLettersPage {
    var query: DeadLetterQuery
    var letters: [TrackedDeadLetter]
    var actionsEnabled: Bool
    var refresh: Int?

    var html: HTML {
        let rows = letters.map { letter -> HTML in
            let saga: HTML = letter.sagaID.map { "<a href=\"/sagas/\(URLComponent.encode($0))\">\($0)</a>" } ?? "–"
            let action: HTML = actionsEnabled
                ? "<td class=\"actions\">\(ActionForms.redrive(id: letter.id, service: letter.service))</td>"
                : .empty
            return """
                <tr><td>\(Layout.time(letter.time))</td><td>\(letter.service) <span class="muted">\(letter.consumer)</span></td><td class="nowrap">\(saga)</td>
                <td class="error">\(letter.reason)</td>
                <td><code>\(letter.sourceTopic):\(String(letter.sourcePartition)):\(String(letter.sourceOffset))</code></td>
                <td class="nowrap">\(letter.key ?? "–")</td><td>\(letter.eventType ?? "–")</td><td class="muted id"><code>\(letter.id)</code></td>\(action)</tr>
                """
        }
        let actionHeader: HTML = actionsEnabled ? "<th>Redrive</th>" : .empty
        let table: HTML = letters.isEmpty
            ? "<p class=\"panel muted\">No dead letters.</p>"
            : """
                <table><thead><tr><th>Time</th><th>Refused by</th><th>Saga</th><th>Reason</th><th>Source</th><th>Key</th><th>Event</th><th>Id</th>\(actionHeader)</tr></thead>
                <tbody>\(rows)</tbody></table>
                """
        let note: HTML = actionsEnabled
            ? "<p class=\"notice\">Redrive puts the message back on its source topic, through the refusing service, once the cause is fixed; the service's inbox applies each event at most once. Actions need the console's token.</p>"
            : .empty
        return Layout.page(title: "Dead letters", section: .deadLetters, refresh: refresh, """
            <h1>Dead letters</h1>
            <form class="filters" method="get" action="/dead-letters">
            <label>Refused by <input name="service" value="\(query.service ?? "")" placeholder="inventory" size="14"></label>
            <label>Saga <input name="saga" value="\(query.saga ?? "")" size="20"></label>
            <button type="submit">Filter</button>
            <a href="/dead-letters">clear</a>
            </form>
            \(note)
            \(table)
            <p class="muted"><a href="/api/dead-letters">JSON</a> · the same as <code>saga-tracker dead-letters --json</code>; payloads are never shown</p>
            """)
    }
}

/// The forms that request an action. Each carries a fresh request id, so submitting the same form twice (a
/// reload, a double click) acts once; and a token field, since a page without JavaScript cannot send a header.
enum ActionForms {
    static func redrive(id: String, service: String) -> HTML {
        """
        <form method="post" action="/actions/redrive">\(common(service: service))
        <input type="hidden" name="dead_letter_id" value="\(id)">
        <button type="submit">Redrive</button></form>
        """
    }

    static func compensation(sagaID: String, service: String) -> HTML {
        """
        <div class="actions">
        <form method="post" action="/actions/retry">\(common(service: service))
        <input type="hidden" name="saga_id" value="\(sagaID)">
        <button type="submit">Retry in \(service)</button></form>
        <form method="post" action="/actions/skip">\(common(service: service))
        <input type="hidden" name="saga_id" value="\(sagaID)">
        <input name="reason" placeholder="why (required)" required size="28" maxlength="500">
        <button type="submit" class="danger">Skip</button></form>
        </div>
        """
    }

    private static func common(service: String) -> HTML {
        """
        <input type="hidden" name="service" value="\(service)"><input type="hidden" name="request_id" value="\(UUID().uuidString.lowercased())">
        <input type="password" name="token" placeholder="token" required size="10" autocomplete="off">
        <input name="by" placeholder="your name" size="10" maxlength="200">
        """
    }
}
