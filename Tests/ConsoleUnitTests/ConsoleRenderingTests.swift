import Foundation
import Testing
import Tracker
@testable import Console

@Suite("Console: escaping, queries and drawing to scale")
struct ConsoleRenderingTests {
    @Test("interpolated text is escaped; markup written in code is not")
    func escaping() {
        let hostile = "<script>alert('x')</script> & \"quoted\""
        let html: HTML = "<td title=\"\(hostile)\">\(hostile)</td>"
        #expect(html.rendered == "<td title=\"&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quoted&quot;\">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quoted&quot;</td>")
        let nested: HTML = "<p>\(html)</p>"
        #expect(nested.rendered == "<p>" + html.rendered + "</p>", "an HTML fragment is inserted as it is")
    }

    @Test("a saga's id reaches the list and its page as text, and its link percent-encoded")
    func hostileIDOnPages() {
        let id = "ORD-<img src=x onerror=alert(1)>/../x?y#z"
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        let summary = SagaSummary(
            sagaID: id, state: "failed", currentStep: nil, waitingFor: nil, startedAt: now, updatedAt: now, finishedAt: now,
            completedSteps: [], compensations: [], error: "<b>reason</b>", eventCount: 2)
        let page = SagaListPage(filter: SagaFilter(), query: ListQuery(), sagas: [summary], counts: ["failed": 1], refresh: nil).html.rendered
        #expect(!page.contains("<img"))
        #expect(!page.contains("<b>reason"))
        #expect(page.contains("ORD-&lt;img src=x onerror=alert(1)&gt;/../x?y#z"))
        #expect(page.contains("href=\"/sagas/ORD-%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%2F..%2Fx%3Fy%23z\""))
        #expect((try? Console.sagaID(path: "/sagas/ORD-%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%2F..%2Fx%3Fy%23z")) == id)
    }

    @Test("the stuck page says when it shows only the longest silent, and not when it shows all")
    func stuckPageSaysWhenCut() throws {
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        func sagas(_ count: Int) -> [SagaSummary] {
            (0..<count).map {
                SagaSummary(sagaID: "ORD-\($0)", state: "running", currentStep: "charge_payment", waitingFor: "payment", startedAt: now,
                            updatedAt: now.addingTimeInterval(-60), finishedAt: nil, completedSteps: [], compensations: [], error: nil, eventCount: 1)
            }
        }
        let query = try StuckQuery(parameters: [:])
        let full = StuckPage(query: query, sagas: sagas(StuckPage.shownAtMost), now: now, refresh: nil).html.rendered
        #expect(full.contains("The \(StuckPage.shownAtMost) silent longest; there may be more"))
        let few = StuckPage(query: query, sagas: sagas(3), now: now, refresh: nil).html.rendered
        #expect(few.contains("ORD-2") && !few.contains("there may be more"))
    }

    @Test("query strings: + is a space, escapes decode, bad values are one-line 400s")
    func queries() throws {
        #expect(FormFields.parse("state=running&prefix=ORD+2%2F1&state=failed") == ["state": "running", "prefix": "ORD 2/1"])
        let query = try ListQuery(parameters: ["state": "compensated", "since": "30m", "page": "3"])
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        let filter = try query.filter(now: now)
        #expect(filter.since == now.addingTimeInterval(-1800))
        #expect(filter.offset == 2 * ListQuery.pageSize && filter.limit == ListQuery.pageSize)
        #expect(query.encoded == "state=compensated&since=30m&page=3")
        #expect(throws: ConsoleInputError.self) { try ListQuery(parameters: ["state": "bogus"]) }
        #expect(throws: ConsoleInputError.self) { try ListQuery(parameters: ["page": "0"]) }
        #expect(throws: ConsoleInputError.self) { try ListQuery(parameters: ["page": "99999999999999999999"]) }
        #expect(throws: ConsoleInputError.self) { try ListQuery(parameters: ["since": "infs"]).filter() }
        #expect(throws: ConsoleInputError.self) { try StuckQuery(parameters: ["older_than": "soon"]) }
    }

    @Test("the waterfall places each event at its offset from the first, to scale")
    func waterfallToScale() {
        let start = Date(timeIntervalSince1970: 1_790_000_000)
        let entries = [0.0, 10.0, 40.0, 100.0].enumerated().map { index, ms in
            SagaStatus.TimelineEntry(
                name: "step\(index)", eventType: "E\(index)", service: ["tracker", "inventory", "payment", "notification"][index],
                at: start.addingTimeInterval(ms / 1000), sincePreviousMs: index == 0 ? nil : 1)
        }
        let waterfall = Waterfall(timeline: entries)
        #expect(waterfall.span == 100)
        let xs = waterfall.offsets.map(waterfall.x)
        #expect(xs[0] == Waterfall.labelWidth)
        #expect(abs((xs[2] - xs[0]) - 0.4 * Waterfall.chartWidth) < 0.001, "40 ms of 100 is 40 % of the width")
        #expect(abs(xs[3] - (Waterfall.labelWidth + Waterfall.chartWidth)) < 0.001)
        let svg = waterfall.svg.rendered
        #expect(svg.components(separatedBy: "<g class=\"event\">").count - 1 == 4)
        #expect(Waterfall.niceCeiling(0.2) == 1 && Waterfall.niceCeiling(120) == 200 && Waterfall.niceCeiling(2400) == 2500)
    }
}
