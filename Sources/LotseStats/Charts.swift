import Foundation

/// Server-rendered SVG charts for the dashboard: numbers and escaped labels only, no scripts, no inline styles.
public enum Charts {
    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func f(_ x: Double) -> String { String(format: "%.1f", x) }

    static let colors = (issued: "#d0d5db", online: "#1d4ed8", transfer: "#0f766e", other: "#e0a526", pilot: "#1d4ed8", base: "#b91c1c")

    /// White stripes across a bar or swatch (transfers), so that the channels stay apart in black and white: online
    /// is solid dark, transfers striped, cash light (`colors.other`), issued light grey with an outline.
    static func stripes(x: Double, width: Double, from top: Double, to bottom: Double) -> String {
        var out = ""
        var y = top + 2
        while y < bottom - 0.5 {
            out += "<line x1=\"\(f(x))\" x2=\"\(f(x + width))\" y1=\"\(f(y))\" y2=\"\(f(y))\" stroke=\"#fff\" stroke-width=\"1.2\"/>"
            y += 4
        }
        return out
    }

    /// Issued and paid by channel, per month.
    /// `month`: the label of a month key (`2025-11`) on the axis.
    public static func issuedAndPaid(
        _ s: PilotStats,
        labels: (issued: String, online: String, transfer: String, other: String),
        month: (String) -> String = { String($0.dropFirst(2)) }
    ) -> String {
        let w = 640.0
        let h = 260.0
        let left = 48.0
        let bottom = 40.0
        let top = 16.0
        let maxV = Self.roundTop(Double(max(s.months.map { $0.counters.issued }.max() ?? 0, 1)))
        let n = Double(max(s.months.count, 1))
        let slot = (w - left - 8) / n
        var out =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(w)) \(Int(h + 30))\" role=\"img\" aria-label=\"\(esc(labels.issued))\">"
        out += axis(left: left, top: top, width: w - left, height: h - bottom - top, maxValue: maxV, percent: false)
        for (i, m) in s.months.enumerated() {
            let x = left + Double(i) * slot + slot * 0.1
            let bw = slot * 0.38
            func y(_ v: Int) -> Double { (h - bottom) - Double(v) / maxV * (h - bottom - top) }
            out +=
                "<rect x=\"\(f(x))\" y=\"\(f(y(m.counters.issued)))\" width=\"\(f(bw))\" height=\"\(f((h - bottom) - y(m.counters.issued)))\" fill=\"\(colors.issued)\" stroke=\"#6b7280\" stroke-width=\"1\"><title>\(m.month): \(m.counters.issued)</title></rect>"
            var base = 0
            for (v, c) in [
                (m.counters.paidOnline, colors.online), (m.counters.paidBankTransfer, colors.transfer), (m.counters.paidOther, colors.other),
            ] {
                out +=
                    "<rect x=\"\(f(x + bw + 2))\" y=\"\(f(y(base + v)))\" width=\"\(f(bw))\" height=\"\(f(y(base) - y(base + v)))\" fill=\"\(c)\"/>"
                if c == colors.transfer { out += stripes(x: x + bw + 2, width: bw, from: y(base + v), to: y(base)) }
                base += v
            }
            out +=
                monthLabel(month(m.month), x: x + bw, y: h - bottom + 14)
        }
        out += legend(
            [(labels.issued, colors.issued), (labels.online, colors.online), (labels.transfer, colors.transfer), (labels.other, colors.other)],
            y: h + 10,
            striped: [labels.transfer],
            outlined: [labels.issued]
        )
        return out + "</svg>"
    }

    /// The funnel issued → scanned → hand-off → paid online, over the period.
    public static func funnel(_ s: PilotStats, labels: [String]) -> String {
        let t = s.totals
        let values = [t.issued, t.scanned, t.handoffStarted, t.paidOnline]
        let maxV = Double(max(values.max() ?? 0, 1))
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 640 140\" role=\"img\" aria-label=\"funnel\">"
        for (i, v) in values.enumerated() {
            let y = Double(i) * 32 + 6
            let wv = Double(v) / maxV * 320
            out += "<text x=\"0\" y=\"\(f(y + 17))\" font-size=\"12\">\(esc(labels[i]))</text>"
            out += "<rect x=\"170\" y=\"\(f(y))\" width=\"\(f(wv))\" height=\"24\" fill=\"\(colors.online)\" opacity=\"\(f(1 - Double(i) * 0.18))\"/>"
            let share = t.issued > 0 ? String(format: " (%.0f %%)", Double(v) / Double(t.issued) * 100) : ""
            out += "<text x=\"\(f(176 + wv))\" y=\"\(f(y + 17))\" font-size=\"12\">\(PilotStats.suppressed(v))\(share)</text>"
        }
        return out + "</svg>"
    }

    /// Reminder rate per month: pilot (QR tickets, 95 % band) against the same month of the year before.
    public static func reminders(
        _ s: PilotStats,
        labels: (pilot: String, baseline: String, band: String, control: String),
        month: (String) -> String = { String($0.dropFirst(2)) }
    ) -> String {
        let w = 640.0
        let h = 240.0
        let left = 48.0
        let bottom = 40.0
        let top = 16.0
        let rows = s.monthlyReminders
        let n = Double(max(rows.count, 1))
        let slot = (w - left - 8) / n
        let highest = (rows.compactMap { $0.pilot.rate } + rows.compactMap { $0.baseline?.rate } + rows.compactMap { $0.control?.rate }).max() ?? 0
        let maxRate = min(1, Self.roundTop(max(0.1, highest * 1.1)))
        func y(_ r: Double) -> Double { (h - bottom) - min(r, maxRate) / maxRate * (h - bottom - top) }
        var out =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(w)) \(Int(h + 30))\" role=\"img\" aria-label=\"\(esc(labels.pilot))\">"
        out += axis(left: left, top: top, width: w - left, height: h - bottom - top, maxValue: maxRate, percent: true)
        var pilotPts: [String] = []
        var basePts: [String] = []
        var controlPts: [String] = []
        for (i, r) in rows.enumerated() {
            let x = left + (Double(i) + 0.5) * slot
            if let p = r.pilot.rate, r.pilot.cases >= 5 {
                let se = (p * (1 - p) / Double(r.pilot.cases)).squareRoot()
                let lo = max(0, p - 1.96 * se)
                let hi = min(1, p + 1.96 * se)
                out +=
                    "<rect x=\"\(f(x - slot * 0.2))\" y=\"\(f(y(hi)))\" width=\"\(f(slot * 0.4))\" height=\"\(f(max(y(lo) - y(hi), 1)))\" fill=\"\(colors.pilot)\" opacity=\"0.18\"/>"
                pilotPts.append("\(f(x)),\(f(y(p)))")
                out += "<circle cx=\"\(f(x))\" cy=\"\(f(y(p)))\" r=\"3\" fill=\"\(colors.pilot)\"/>"
            }
            if let b = r.baseline?.rate {
                basePts.append("\(f(x)),\(f(y(b)))")
                out += "<circle cx=\"\(f(x))\" cy=\"\(f(y(b)))\" r=\"3\" fill=\"\(colors.base)\"/>"
            }
            // the control group (tickets without a QR code), where the month has enough of them to show
            if let c = r.control, let rate = c.rate, c.cases >= 5 {
                controlPts.append("\(f(x)),\(f(y(rate)))")
                out += "<rect x=\"\(f(x - 3))\" y=\"\(f(y(rate) - 3))\" width=\"6\" height=\"6\" fill=\"\(colors.other)\"/>"
            }
            out +=
                monthLabel(month(r.month), x: x, y: h - bottom + 14)
        }
        if pilotPts.count > 1 {
            out += "<polyline points=\"\(pilotPts.joined(separator: " "))\" fill=\"none\" stroke=\"\(colors.pilot)\" stroke-width=\"2\"/>"
        }
        if basePts.count > 1 {
            out +=
                "<polyline points=\"\(basePts.joined(separator: " "))\" fill=\"none\" stroke=\"\(colors.base)\" stroke-width=\"2\" stroke-dasharray=\"5 3\"/>"
        }
        if controlPts.count > 1 {
            out +=
                "<polyline points=\"\(controlPts.joined(separator: " "))\" fill=\"none\" stroke=\"\(colors.other)\" stroke-width=\"2\" stroke-dasharray=\"2 3\"/>"
        }
        out += legend(
            [(labels.pilot, colors.pilot), (labels.band, colors.pilot), (labels.baseline, colors.base), (labels.control, colors.other)],
            y: h + 10,
            faint: [labels.band]
        )
        return out + "</svg>"
    }

    /// A month under its bar: the name, and the year on a second line (`Dec` / `2025`), so that thirteen months fit
    /// side by side without running into each other.
    static func monthLabel(_ label: String, x: Double, y: Double) -> String {
        let parts = label.split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2 else {
            return "<text x=\"\(f(x))\" y=\"\(f(y))\" font-size=\"10\" text-anchor=\"middle\">\(esc(label))</text>"
        }
        return "<text x=\"\(f(x))\" y=\"\(f(y))\" font-size=\"10\" text-anchor=\"middle\">\(esc(parts[0]))"
            + "<tspan x=\"\(f(x))\" dy=\"11\">\(esc(parts[1]))</tspan></text>"
    }

    /// The axis' top: the next value of 1, 2, 2.5 or 5 times a power of ten that gives four round steps.
    static func roundTop(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        let raw = value / 4
        let power = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * power }.first { $0 >= raw } ?? 10 * power
        return step * 4
    }

    static func axis(left: Double, top: Double, width: Double, height: Double, maxValue: Double, percent: Bool) -> String {
        var out = ""
        for k in 0...4 {
            let v = maxValue * Double(k) / 4
            let y = top + height - height * Double(k) / 4
            out += "<line x1=\"\(f(left))\" x2=\"\(f(left + width - 8))\" y1=\"\(f(y))\" y2=\"\(f(y))\" stroke=\"#d0d5db\" stroke-width=\"1\"/>"
            let label = percent ? String(format: "%.0f %%", v * 100) : String(Int(v.rounded()))
            out += "<text x=\"\(f(left - 4))\" y=\"\(f(y + 4))\" font-size=\"10\" text-anchor=\"end\">\(label)</text>"
        }
        return out
    }

    /// `faint`: the labels whose swatch is drawn as the band is (light).
    /// `striped`, `outlined`: the labels whose bars are drawn so (the swatch matches).
    static func legend(
        _ items: [(String, String)],
        y: Double,
        faint: Set<String> = [],
        striped: Set<String> = [],
        outlined: Set<String> = []
    ) -> String {
        var out = ""
        var x = 48.0
        for (label, color) in items {
            let opacity = faint.contains(label) ? " opacity=\"0.18\"" : ""
            let outline = outlined.contains(label) ? " stroke=\"#6b7280\" stroke-width=\"1\"" : ""
            out += "<rect x=\"\(f(x))\" y=\"\(f(y))\" width=\"12\" height=\"12\" fill=\"\(color)\"\(opacity)\(outline)/>"
            if striped.contains(label) { out += stripes(x: x, width: 12, from: y, to: y + 12) }
            out += "<text x=\"\(f(x + 16))\" y=\"\(f(y + 10))\" font-size=\"11\">\(esc(label))</text>"
            x += 24 + Double(label.count) * 6.5
        }
        return out
    }
}
