import Foundation
import HeraldCore

/// The overview's chart: each kind of activity per minute over the last hour, as SVG polylines
/// drawn on the server (no script, no image to fetch), with the totals as text beside it for
/// screen readers and for anyone who wants the numbers.
struct ActivityChart {
    static let minutes = 60
    static let width = 600
    static let height = 160

    /// Counts per kind, oldest minute first; the last is the current minute.
    let series: [ActivityKind: [Int]]

    init(_ counts: [ActivityCount], now: Date) {
        let last = ActivityMinutes.minute(of: now)
        let first = last - Int64(Self.minutes - 1)
        var series = Dictionary(uniqueKeysWithValues: ActivityKind.allCases.map { ($0, Array(repeating: 0, count: Self.minutes)) })
        for count in counts {
            let minute = ActivityMinutes.minute(of: count.minute)
            guard (first...last).contains(minute) else { continue }
            series[count.kind]?[Int(minute - first)] += count.count
        }
        self.series = series
    }

    /// The largest count of any minute, at least 1: the top of the chart.
    var top: Int { max(1, series.values.flatMap { $0 }.max() ?? 0) }

    /// What the template draws: each kind's points, total and name.
    var page: [String: Any] {
        let top = Double(top)
        let step = Double(Self.width) / Double(Self.minutes - 1)
        let lines: [[String: Any]] = ActivityKind.allCases.map { kind in
            let counts = series[kind] ?? []
            let points = counts.enumerated().map { index, count in
                let x = Double(index) * step
                let y = Double(Self.height) - Double(count) / top * Double(Self.height - 10)
                return String(format: "%.1f,%.1f", x, y)
            }
            return ["kind": kind.rawValue, "points": points.joined(separator: " "), "total": counts.reduce(0, +)]
        }
        let summary = lines.map { "\($0["kind"]!) \($0["total"]!)" }.joined(separator: ", ")
        return [
            "lines": lines, "top": Int(top), "width": Self.width, "height": Self.height,
            "summary": "In the last hour, by the minute: \(summary).",
        ]
    }
}
