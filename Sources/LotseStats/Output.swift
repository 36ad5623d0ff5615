import Foundation
import LotseCore
import LotseStorage

extension PilotStats {
    static func round(_ x: Double?) -> Any {
        guard let x, x.isFinite else { return NSNull() }
        return (x * 10000).rounded() / 10000
    }

    /// The spec's JSON shape (`period`, `totals`, `months`, `rates`, `comparison`), plus the control group,
    /// time to payment and languages.
    public var jsonObject: [String: Any] {
        func comparison(_ c: Comparison, referenceKey: String) -> [String: Any] {
            var o: [String: Any] = [
                referenceKey: Self.round(c.reference.rate), "pilot_reminder_rate": Self.round(c.pilot.rate),
                "difference": Self.round(c.difference),
                "ci95": c.ci95.map { [Self.round($0.0), Self.round($0.1)] } ?? NSNull(),
                "significant": c.significant.map { $0 as Any } ?? NSNull(),
                "pilot_cases": c.pilot.cases, "reference_cases": c.reference.cases,
                "method": "difference of two proportions, Wald 95 % interval (normal approximation)",
            ]
            if let n = c.note { o["note"] = n }
            return o
        }
        var monthsOut: [[String: Any]] = []
        for (m, c) in months {
            var o: [String: Any] = c.dictionary
            o["month"] = m
            monthsOut.append(o)
        }
        var times: [String: Any] = [:]
        for (k, t) in timeToPayment {
            times[k] = ["count": t.count, "median_days": Self.round(t.medianDays), "p90_days": Self.round(t.p90Days)]
        }
        var comparisonOut = comparison(baseline, referenceKey: "baseline_reminder_rate")
        comparisonOut["control_group"] = comparison(controlGroup, referenceKey: "control_reminder_rate")
        return [
            "period": ["from": from.description, "to": to.description],
            "totals": totals.dictionary,
            "months": monthsOut,
            "rates": [
                "scan_rate": Self.round(rates.scanRate), "online_share_of_paid": Self.round(rates.onlineShareOfPaid),
                "online_share_of_issued": Self.round(rates.onlineShareOfIssued), "on_time_rate": Self.round(rates.onTimeRate),
                "reminder_rate": Self.round(rates.reminderRate),
                "reminder_rate_definition": Rates.reminderRateDefinition,
                "reminder_rate_all_tickets": Self.round(rates.reminderRateAllTickets),
            ],
            "comparison": comparisonOut,
            "time_to_payment": times,
            "languages": languages,
            "money": [
                "totals": Self.moneyObject(moneyTotals),
                "months": money.map { month, m -> [String: Any] in
                    var o = Self.moneyObject(m)
                    o["month"] = month
                    return o
                },
            ],
        ]
    }

    /// The money's names, in integer cents (the API, the CSV in euros).
    public static let moneyNames = [
        "fines_cents", "collected_cents", "collected_online_cents", "collected_bank_transfer_cents", "collected_cash_cents",
        "part_payments_cents", "outstanding_cents", "handed_over_cents",
    ]

    public static func moneyValues(_ m: StatisticsMoney) -> [Int] {
        [m.fines, m.collected, m.paidOnline, m.paidBankTransfer, m.paidCash, m.partPaid, m.outstanding, m.handedOver]
    }

    static func moneyObject(_ m: StatisticsMoney) -> [String: Any] {
        Dictionary(uniqueKeysWithValues: zip(moneyNames, moneyValues(m).map { $0 as Any }))
    }

    public func json() throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: jsonObject, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self)
    }

    /// Counts below 5 are shown as `< 5` (no small groups leave the system).
    public static func suppressed(_ n: Int) -> String { n > 0 && n < 5 ? "< 5" : String(n) }

    /// The CSV's extra columns: the reminder rate of the month (the one definition, `Rates.reminderRate`) and of the
    /// same month a year before; on the total row, the comparison with the year before and with the control group.
    public static let csvRateColumns = [
        "reminder_rate", "baseline_reminder_rate", "difference_to_baseline_pp", "baseline_ci95_low_pp", "baseline_ci95_high_pp",
        "baseline_significant", "control_reminder_rate", "difference_to_control_pp",
    ]

    /// The CSV's money columns, in euros with two decimals (the API gives the same in cents).
    public static let csvMoneyColumns = [
        "fines_eur", "collected_eur", "collected_online_eur", "collected_bank_transfer_eur", "collected_cash_eur", "part_payments_eur",
        "outstanding_eur", "handed_over_eur",
    ]

    /// One row per month, then the total; small counts suppressed; rates as decimal fractions. `header`: the column
    /// names (English by default; the dashboard passes its language's).
    public func csv(header: [String]? = nil) -> String {
        let names = header ?? (["month"] + Counters.names + Self.csvRateColumns + Self.csvMoneyColumns)
        var out = names.joined(separator: ";") + "\n"
        func rate(_ x: Double?) -> String { x.map { String(format: "%.4f", $0) } ?? "" }
        func points(_ x: Double?) -> String { x.map { String(format: "%.1f", $0 * 100) } ?? "" }
        let rates = Dictionary(monthlyReminders.map { ($0.month, $0) }, uniquingKeysWith: { a, _ in a })
        let moneyOfMonth = Dictionary(money.map { ($0.month, $0.money) }, uniquingKeysWith: { a, _ in a })
        func euros(_ m: StatisticsMoney) -> [String] { Self.moneyValues(m).map { Money.plain($0) } }
        for (m, c) in months {
            let r = rates[m]
            let cells = [rate(r?.pilot.rate), rate(r?.baseline?.rate), "", "", "", "", "", ""]
            out += ([m] + c.values.map(Self.suppressed) + cells + euros(moneyOfMonth[m] ?? StatisticsMoney())).joined(separator: ";") + "\n"
        }
        let totalCells = [
            rate(self.rates.reminderRate), rate(baseline.reference.rate), points(baseline.difference), points(baseline.ci95?.0),
            points(baseline.ci95?.1), baseline.significant.map { $0 ? "yes" : "no" } ?? "",
            rate(controlGroup.reference.rate), points(controlGroup.difference),
        ]
        out += (["total"] + totals.values.map(Self.suppressed) + totalCells + euros(moneyTotals)).joined(separator: ";") + "\n"
        return out
    }

    static func percent(_ x: Double?) -> String { SentenceWords.english.percent(x) }

    /// The comparison in one sentence, in `words` (English unless the caller passes its translations).
    public func sentence(_ c: Comparison, against: String, words: SentenceWords = .english) -> String {
        func fill(_ pattern: String, _ values: [String: String]) -> String {
            values.reduce(pattern) { $0.replacingOccurrences(of: "{" + $1.key + "}", with: $1.value) }
        }
        guard let p = c.pilot.rate, let r = c.reference.rate else {
            return fill(words.notEnough, ["against": against])
        }
        let base = fill(words.rates, ["pilot": words.percent(p), "reference": words.percent(r), "against": against])
        guard let ci = c.ci95, let sig = c.significant, let d = c.difference else {
            return base + words.cannotJudge
        }
        let difference = fill(
            words.difference,
            [
                "d": words.number("%+.1f", d * 100), "low": words.number("%+.1f", ci.0 * 100),
                "high": words.number("%+.1f", ci.1 * 100),
            ]
        )
        return base + difference + (sig ? words.significant : words.notSignificant)
    }

    public func text() -> String {
        var out = "Pilot statistics \(from) to \(to)\n\n"
        let head = ["month", "issued", "scanned", "hand-off", "paid", "online", "transfer", "other", "on time", "reminded", "unmatched"]
        out += head.map { $0.padding(toLength: max(9, $0.count + 1), withPad: " ", startingAt: 0) }.joined() + "\n"
        for (m, c) in months + [("total", totals)] {
            out +=
                ([m] + c.values.map(String.init)).enumerated()
                .map { $0.element.padding(toLength: max(9, head[$0.offset].count + 1), withPad: " ", startingAt: 0) }.joined() + "\n"
        }
        out += "\nscan rate \(Self.percent(rates.scanRate)), online share of paid \(Self.percent(rates.onlineShareOfPaid)), "
        out += "online share of issued \(Self.percent(rates.onlineShareOfIssued)), paid on time \(Self.percent(rates.onTimeRate)), "
        out += "reminder rate \(Self.percent(rates.reminderRate))\n"
        let m = moneyTotals
        out += "money (EUR): fines \(Money.plain(m.fines)), collected \(Money.plain(m.collected)) (online \(Money.plain(m.paidOnline)), "
        out += "bank transfer \(Money.plain(m.paidBankTransfer)), cash \(Money.plain(m.paidCash)), parts \(Money.plain(m.partPaid))), "
        out += "outstanding \(Money.plain(m.outstanding)), handed over \(Money.plain(m.handedOver))\n"
        for (k, t) in timeToPayment.sorted(by: { $0.key < $1.key }) {
            out +=
                "time to payment \(k): median \(t.medianDays.map { String(format: "%.1f", $0) } ?? "–") days, p90 \(t.p90Days.map { String(format: "%.1f", $0) } ?? "–") days (\(t.count) cases)\n"
        }
        if !languages.isEmpty {
            let n = languages.values.reduce(0, +)
            out +=
                "page language: "
                + languages.sorted { $0.key < $1.key }.map { "\($0.key) \(Self.percent(Double($0.value) / Double(n)))" }.joined(separator: ", ")
                + "\n"
        }
        out += sentence(baseline, against: "in the same months of the year before") + "\n"
        out += sentence(controlGroup, against: "for tickets without a QR code") + "\n"
        return out
    }
}

/// The words of the comparison sentence, with `{placeholders}`. The CLI speaks English; the dashboard
/// takes them from its translation files (`stats_sentence_*`).
public struct SentenceWords: Sendable {
    public var notEnough: String
    public var rates: String
    public var cannotJudge: String
    public var difference: String
    public var significant: String
    public var notSignificant: String
    public var decimalSeparator: String

    public init(
        notEnough: String,
        rates: String,
        cannotJudge: String,
        difference: String,
        significant: String,
        notSignificant: String,
        decimalSeparator: String
    ) {
        self.notEnough = notEnough
        self.rates = rates
        self.cannotJudge = cannotJudge
        self.difference = difference
        self.significant = significant
        self.notSignificant = notSignificant
        self.decimalSeparator = decimalSeparator
    }

    public static let english = SentenceWords(
        notEnough: "Reminders against {against}: not enough data yet.",
        rates: "With QR codes {pilot} of the cases needed a reminder, against {reference} {against}",
        cannotJudge: "; not enough data to judge the difference.",
        difference: ": {d} percentage points (95 % CI {low} to {high})",
        significant: ", a significant difference.",
        notSignificant: ", not significant.",
        decimalSeparator: "."
    )

    /// `x` formatted with this language's decimal separator.
    public func number(_ format: String, _ x: Double) -> String {
        String(format: format, x).replacingOccurrences(of: ".", with: decimalSeparator)
    }

    /// `12.5 %` (`12,5 %` in German); `–` for no value.
    public func percent(_ x: Double?) -> String {
        x.map { number("%.1f", $0 * 100) + " %" } ?? "–"
    }
}
