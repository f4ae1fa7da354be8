import Foundation
import SagaKit
import SagaKitService
import Tracker

/// Human-readable renderings for the tracker's commands.
enum StatusText {
    static func status(_ s: SagaStatus) -> String {
        var lines = ["saga \(s.sagaID): \(s.state.rawValue)"]
        func row(_ label: String, _ value: String) { lines.append("  " + label.padding(toLength: 15, withPad: " ", startingAt: 0) + value) }
        row("started", s.startedAt.map(RFC3339.format) ?? "-")
        if let finished = s.finishedAt, let started = s.startedAt {
            row("finished", "\(RFC3339.format(finished)) (\(duration(finished.timeIntervalSince(started))) after start)")
        }
        row("steps done", s.completedSteps.isEmpty ? "-" : s.completedSteps.joined(separator: ", "))
        row("compensations", s.compensations.isEmpty ? "-" : s.compensations.joined(separator: ", "))
        row("error", s.error ?? "-")
        if let step = s.currentStep {
            row("waiting for", "\(step) (\(s.waitingFor ?? "?"))")
        }
        lines.append("timeline")
        // A note column only when an entry has one (an operator's skip), so the usual timeline stays as narrow.
        let notes = s.timeline.contains { $0.note != nil }
        let table = Table(["  TIME", "+SINCE PREVIOUS", "STEP / EVENT", "SERVICE"] + (notes ? ["NOTE"] : []), s.timeline.map { entry in
            ["  " + RFC3339.format(entry.at), entry.sincePreviousMs.map { duration($0 / 1000) } ?? "", entry.name, entry.service]
                + (notes ? [entry.note ?? ""] : [])
        })
        lines.append(table.rendered)
        return lines.joined(separator: "\n")
    }

    /// `850 ms`, `3.2 s`, `4 min 10 s`.
    static func duration(_ seconds: Double) -> String {
        if seconds < 1 { return String(format: "%.0f ms", seconds * 1000) }
        if seconds < 60 { return String(format: "%.1f s", seconds) }
        let whole = Int(seconds)
        if whole < 3600 { return "\(whole / 60) min \(whole % 60) s" }
        return "\(whole / 3600) h \(whole % 3600 / 60) min"
    }
}

extension StatusText {
    static func list(_ sagas: [SagaSummary]) -> String {
        Table(["SAGA", "STATE", "WAITING FOR", "STARTED", "ERROR"], sagas.map { saga in
            [saga.sagaID, saga.state, saga.currentStep.map { "\($0) (\(saga.waitingFor ?? "?"))" } ?? "-",
             saga.startedAt.map(RFC3339.format) ?? "-", saga.error ?? "-"]
        }).rendered
    }

    static func stuck(_ sagas: [SagaSummary], now: Date) -> String {
        Table(["SAGA", "STATE", "WAITING FOR", "SILENT FOR", "LAST EVENT"], sagas.map { saga in
            [saga.sagaID, saga.state, saga.currentStep.map { "\($0) (\(saga.waitingFor ?? "?"))" } ?? "-",
             duration(now.timeIntervalSince(saga.updatedAt)), RFC3339.format(saga.updatedAt)]
        }).rendered
    }

    static func stats(_ stats: SagaStats) -> String {
        var lines = [Table(["STATE", "SAGAS"], SagaState.allCases.map { [$0.rawValue, "\(stats.byState[$0.rawValue] ?? 0)"] } + [["total", "\(stats.total)"]]).rendered]
        let d = stats.timeToTerminal
        func ms(_ value: Double?) -> String { value.map { duration($0 / 1000) } ?? "-" }
        lines.append("")
        lines.append("time to a terminal state (\(d.count) sagas): p50 \(ms(d.p50Ms)), p95 \(ms(d.p95Ms)), p99 \(ms(d.p99Ms)), max \(ms(d.maxMs))")
        return lines.joined(separator: "\n")
    }
}
