import Foundation
import SagaKit

/// The page shell every console page shares: the navigation, the style sheet, and the optional auto-refresh
/// (a `<meta refresh>`, so it works without JavaScript).
enum Layout {
    enum Section: String, CaseIterable {
        case sagas = "Sagas", stuck = "Stuck", deadLetters = "Dead letters", stats = "Stats"

        var path: String {
            switch self {
            case .sagas: "/"
            case .stuck: "/stuck"
            case .deadLetters: "/dead-letters"
            case .stats: "/stats"
            }
        }
    }

    static func page(title: String, section: Section?, refresh: Int? = nil, _ body: HTML) -> HTML {
        let nav = Section.allCases.map { item -> HTML in
            item == section ? "<a class=\"current\" href=\"\(item.path)\">\(item.rawValue)</a>" : "<a href=\"\(item.path)\">\(item.rawValue)</a>"
        }
        let meta: HTML = refresh.map { "<meta http-equiv=\"refresh\" content=\"\($0)\">" } ?? .empty
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            \(meta)
            <title>\(title) · SagaKit console</title>
            <style>\(HTML(trusted: styleSheet))</style>
            </head>
            <body>
            <header><span class="brand">SagaKit</span><nav>\(nav)</nav></header>
            <main>
            \(body)
            </main>
            </body>
            </html>
            """
    }

    /// A state as a coloured badge.
    static func badge(_ state: String) -> HTML {
        "<span class=\"badge state-\(state)\">\(state.replacingOccurrences(of: "_", with: " "))</span>"
    }

    static func time(_ date: Date?) -> HTML {
        guard let date else { return "–" }
        return "<time datetime=\"\(RFC3339.format(date))\">\(Format.clock(date))</time>"
    }

    static let styleSheet = """
        :root { --ink:#1d2330; --muted:#687083; --line:#e3e6ec; --bg:#f6f7f9; --accent:#3156d3; }
        * { box-sizing: border-box; }
        body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--ink); background:var(--bg); }
        header { display:flex; align-items:center; gap:24px; padding:10px 24px; background:#1d2330; color:#fff; }
        header .brand { font-weight:700; letter-spacing:.02em; }
        header nav a { color:#c9d1e4; text-decoration:none; margin-right:16px; padding:4px 0; }
        header nav a.current { color:#fff; border-bottom:2px solid #8aa4ff; }
        main { padding:20px 24px; max-width:1200px; }
        h1 { font-size:20px; margin:0 0 12px; } h2 { font-size:15px; margin:22px 0 8px; color:var(--muted); text-transform:uppercase; letter-spacing:.04em; }
        a { color:var(--accent); }
        table { border-collapse:collapse; width:100%; background:#fff; border:1px solid var(--line); }
        th, td { text-align:left; padding:6px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
        th { font-weight:600; color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.03em; background:#fafbfc; }
        td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
        .badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; white-space:nowrap; }
        .state-running { background:#e3ecff; color:#1f48c4; } .state-compensating { background:#fff1d6; color:#8a5a00; }
        .state-completed { background:#dcf5e3; color:#17693a; } .state-compensated { background:#efe6ff; color:#5b2db8; }
        .state-failed { background:#ffe1e1; color:#a11c1c; } .state-compensation_failed { background:#a11c1c; color:#fff; }
        .chips a { display:inline-block; margin:0 6px 6px 0; padding:3px 10px; border-radius:14px; background:#fff; border:1px solid var(--line); text-decoration:none; color:var(--ink); }
        .chips a.current { border-color:var(--accent); box-shadow:0 0 0 1px var(--accent) inset; }
        .chips b { margin-left:6px; }
        form.filters { display:flex; flex-wrap:wrap; gap:10px; align-items:end; margin:8px 0 14px; }
        form.filters label { display:flex; flex-direction:column; font-size:12px; color:var(--muted); }
        input, select, button { font:inherit; padding:4px 8px; border:1px solid #c8cdd8; border-radius:4px; background:#fff; }
        button { background:var(--accent); color:#fff; border-color:var(--accent); cursor:pointer; }
        button.danger { background:#a11c1c; border-color:#a11c1c; }
        .pager { margin-top:10px; display:flex; gap:14px; color:var(--muted); }
        .error { color:#a11c1c; } .muted { color:var(--muted); }
        dl.facts { display:grid; grid-template-columns: 170px 1fr; gap:4px 16px; background:#fff; border:1px solid var(--line); padding:12px 16px; margin:0; }
        dl.facts dt { color:var(--muted); } dl.facts dd { margin:0; }
        .panel { background:#fff; border:1px solid var(--line); padding:12px 16px; }
        .notice { background:#fff8e1; border:1px solid #f0d68a; padding:8px 12px; margin:10px 0; }
        svg text { font: 12px system-ui, sans-serif; fill: var(--ink); }
        svg .axis { stroke:#c8cdd8; } svg .grid { stroke:#eef0f4; }
        svg text.small { font-size:11px; fill:var(--muted); }
        .legend span { display:inline-block; margin-right:14px; font-size:12px; }
        .legend i { display:inline-block; width:10px; height:10px; margin-right:5px; border-radius:2px; vertical-align:-1px; }
        .actions form { display:inline-flex; gap:6px; margin:4px 8px 4px 0; }
        td.actions form { display:flex; flex-direction:column; gap:4px; margin:0; } td.actions input { width:96px; } td.id { word-break:break-all; min-width:90px; }
        td.nowrap { white-space:nowrap; }
        """
}

/// Times and durations as the console prints them.
enum Format {
    /// `2026-12-05 06:10:03.412 UTC`: millisecond precision, because the gaps between events are milliseconds.
    static func clock(_ date: Date) -> String {
        var text = RFC3339.format(date).replacingOccurrences(of: "T", with: " ")
        if text.hasSuffix("Z") { text.removeLast() }
        if let dot = text.firstIndex(of: "."), let end = text.index(dot, offsetBy: 4, limitedBy: text.endIndex) { text = String(text[..<end]) }
        return text + " UTC"
    }

    /// `850 ms`, `3.2 s`, `4 min 10 s`, `2 h 5 min`.
    static func duration(milliseconds ms: Double) -> String {
        if ms == 0 { return "0 ms" }
        if ms < 10 { return String(format: "%.1f ms", ms) }
        if ms < 1000 { return String(format: "%.0f ms", ms) }
        let seconds = ms / 1000
        if seconds < 60 { return String(format: "%.1f s", seconds) }
        let whole = Int(seconds)
        if whole < 3600 { return "\(whole / 60) min \(whole % 60) s" }
        return "\(whole / 3600) h \(whole % 3600 / 60) min"
    }
}
