import Foundation
import GRDB
import LotseCore
import LotseStorage

/// The counters the spec names, for one month or the whole period.
public struct Counters: Sendable, Equatable, Codable {
    public var issued = 0
    public var scanned = 0
    public var handoffStarted = 0
    public var paid = 0
    public var paidOnline = 0
    public var paidBankTransfer = 0
    public var paidOther = 0
    public var paidOnTime = 0
    public var reminded = 0
    public var unmatchedBankPayments = 0

    public init() {}

    static let names = ["issued", "scanned", "handoff_started", "paid", "paid_online", "paid_bank_transfer", "paid_other",
                        "paid_on_time", "reminded", "unmatched_bank_payments"]

    public var values: [Int] {
        [issued, scanned, handoffStarted, paid, paidOnline, paidBankTransfer, paidOther, paidOnTime, reminded, unmatchedBankPayments]
    }

    mutating func add(_ o: Counters) {
        issued += o.issued; scanned += o.scanned; handoffStarted += o.handoffStarted; paid += o.paid
        paidOnline += o.paidOnline; paidBankTransfer += o.paidBankTransfer; paidOther += o.paidOther
        paidOnTime += o.paidOnTime; reminded += o.reminded; unmatchedBankPayments += o.unmatchedBankPayments
    }

    public var dictionary: [String: Int] { Dictionary(uniqueKeysWithValues: zip(Self.names, values)) }
}

public struct Rates: Sendable, Equatable {
    public var scanRate: Double?
    public var onlineShareOfPaid: Double?
    public var onlineShareOfIssued: Double?
    public var onTimeRate: Double?
    public var reminderRate: Double?

    init(_ c: Counters, mature: Group) {
        func r(_ a: Int, _ b: Int) -> Double? { b > 0 ? Double(a) / Double(b) : nil }
        scanRate = r(c.scanned, c.issued)
        onlineShareOfPaid = r(c.paidOnline, c.paid)
        onlineShareOfIssued = r(c.paidOnline, c.issued)
        onTimeRate = r(c.paidOnTime, c.issued)
        reminderRate = mature.rate
    }
}

/// A group of cases whose reminder could already have been sent (deadline + grace days passed).
public struct Group: Sendable, Equatable {
    public var cases = 0
    public var reminded = 0
    public var rate: Double? { cases > 0 ? Double(reminded) / Double(cases) : nil }
}

/// A difference of two reminder rates with its 95 % confidence interval.
public struct Comparison: Sendable, Equatable {
    public var label: String
    public var reference: Group
    public var pilot: Group
    public var difference: Double?
    public var ci95: (Double, Double)?
    public var significant: Bool?
    /// Why there is no verdict, if there is none.
    public var note: String?

    public static func == (a: Comparison, b: Comparison) -> Bool {
        a.label == b.label && a.reference == b.reference && a.pilot == b.pilot && a.difference == b.difference
            && a.ci95?.0 == b.ci95?.0 && a.ci95?.1 == b.ci95?.1 && a.significant == b.significant
    }

    /// Method: difference of two independent proportions, Wald interval (normal approximation),
    /// p1 − p2 ± 1.96 · √(p1(1−p1)/n1 + p2(1−p2)/n2); significant when the interval excludes 0.
    /// Too little data (fewer than 30 cases, or fewer than 5 reminded or not reminded, in either group): no verdict.
    public static func make(_ label: String, pilot: Group, reference: Group) -> Comparison {
        var c = Comparison(label: label, reference: reference, pilot: pilot)
        guard let p1 = pilot.rate, let p2 = reference.rate else { c.note = "not enough data"; return c }
        c.difference = p1 - p2
        let enough = [pilot, reference].allSatisfy { g in g.cases >= 30 && g.reminded >= 5 && g.cases - g.reminded >= 5 }
        guard enough else { c.note = "not enough data"; return c }
        let se = (p1 * (1 - p1) / Double(pilot.cases) + p2 * (1 - p2) / Double(reference.cases)).squareRoot()
        let d = p1 - p2
        c.ci95 = (d - 1.96 * se, d + 1.96 * se)
        c.significant = c.ci95!.0 > 0 || c.ci95!.1 < 0
        return c
    }
}

/// Days from issue to payment, per channel.
public struct PaymentTimes: Sendable, Equatable {
    public var count = 0
    public var medianDays: Double?
    public var p90Days: Double?
}

/// The pilot statistics for a period (spec: "Pilot statistics"; a case counts in the month it was issued).
public struct PilotStats: Sendable {
    public var from: CivilDate
    public var to: CivilDate
    public var months: [(month: String, counters: Counters)]
    public var totals: Counters
    public var rates: Rates
    public var baseline: Comparison
    public var controlGroup: Comparison
    public var timeToPayment: [String: PaymentTimes]
    /// Distinct cases whose page was first opened in each language.
    public var languages: [String: Int]
    public var qrPrinted: Group
    public var withoutQR: Group
    /// Per month: the QR cases whose reminder date has passed, and the baseline of the same month a year before.
    public var monthlyReminders: [(month: String, pilot: Group, baseline: Group?)] = []
}

public enum Baseline {
    /// `month;issued;reminded` (lines starting with `#` are comments).
    public static func load(_ path: String) throws -> [String: Group] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var out: [String: Group] = [:]
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") || line.lowercased().hasPrefix("month") { continue }
            let f = line.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard f.count >= 3, f[0].count == 7, let n = Int(f[1]), let r = Int(f[2]), r <= n, n >= 0 else {
                throw LotseError.input("\(path):\(i + 1): expected month;issued;reminded (e.g. 2025-03;4120;1146)")
            }
            out[f[0]] = Group(cases: n, reminded: r)
        }
        return out
    }
}

public enum StatsQuery {
    /// Computes the statistics from the case rows (one pass, grouped by UTC hour of issue and folded into
    /// Berlin months exactly) and the payments table.
    /// - Parameters:
    ///   - asOf: the day the figures are for; cases count towards reminder rates only once deadline + grace has passed.
    public static func run(_ db: Database, from: CivilDate, to: CivilDate, asOf: CivilDate, graceDays: Int,
                           baseline: [String: Group]) throws -> PilotStats {
        let start = BerlinTime.utc(date: from, hour: 0, minute: 0)
        let end = BerlinTime.utc(date: to.adding(days: 1), hour: 0, minute: 0)
        let matureBefore = asOf.adding(days: -graceDays).description
        // On time = paid before the end of the deadline day in Berlin; one limit per distinct deadline.
        try db.execute(sql: "CREATE TEMP TABLE IF NOT EXISTS deadline_limits (deadline TEXT PRIMARY KEY, lim INTEGER NOT NULL) WITHOUT ROWID")
        try db.execute(sql: "DELETE FROM deadline_limits")
        let deadlines = try String.fetchAll(db, sql: "SELECT DISTINCT deadline FROM cases WHERE issued_at >= ? AND issued_at < ?",
                                            arguments: [start, end])
        let ins = try db.makeStatement(sql: "INSERT INTO deadline_limits VALUES (?, ?)")
        for d in deadlines {
            if let c = CivilDate(iso: d) { try ins.execute(arguments: [d, BerlinTime.utc(date: c.adding(days: 1), hour: 0, minute: 0)]) }
        }
        var byMonth: [String: Counters] = [:]
        var qr = Group(), noQR = Group()
        var matureByMonth: [String: Group] = [:]
        let rows = try Row.fetchCursor(db, sql: """
            SELECT issued_at / 3600 AS h, qr_printed, count(*), count(first_viewed_at), count(handoff_at),
                   sum(status = 'paid'), sum(paid_channel = 'paypal' AND status = 'paid'),
                   sum(paid_channel = 'bank_transfer' AND status = 'paid'), sum(paid_channel = 'cash' AND status = 'paid'),
                   sum(status = 'paid' AND paid_at < l.lim), count(reminded_at),
                   sum(deadline < :mature), sum(deadline < :mature AND reminded_at IS NOT NULL)
            FROM cases LEFT JOIN deadline_limits l USING (deadline)
            WHERE status != 'cancelled' AND issued_at >= :start AND issued_at < :end
            GROUP BY h, qr_printed
            """, arguments: ["mature": matureBefore, "start": start, "end": end])
        var monthOfHour: [Int64: String] = [:]
        func month(_ hour: Int64) -> String {
            if let m = monthOfHour[hour] { return m }
            let m = BerlinTime.local(hour * 3600).date.monthKey
            monthOfHour[hour] = m
            return m
        }
        while let r = try rows.next() {
            let m = month(r[0])
            var c = Counters()
            c.issued = r[2]; c.scanned = r[3]; c.handoffStarted = r[4]; c.paid = r[5]; c.paidOnline = r[6]
            c.paidBankTransfer = r[7]; c.paidOther = r[8]; c.paidOnTime = r[9]; c.reminded = r[10]
            byMonth[m, default: Counters()].add(c)
            let mature = Group(cases: r[11], reminded: r[12])
            let printed: Bool = r[1]
            if printed {
                qr.cases += mature.cases; qr.reminded += mature.reminded
                matureByMonth[m, default: Group()].cases += mature.cases
                matureByMonth[m, default: Group()].reminded += mature.reminded
            } else {
                noQR.cases += mature.cases; noQR.reminded += mature.reminded
            }
        }
        // Transfers nobody could match, by month of booking.
        for r in try Row.fetchAll(db, sql: """
            SELECT paid_at / 3600 AS h, count(*) FROM payments WHERE disposition = 'unmatched' AND paid_at >= ? AND paid_at < ? GROUP BY h
            """, arguments: [start, end]) {
            byMonth[month(r[0]), default: Counters()].unmatchedBankPayments += r[1] as Int
        }
        // Every month of the period appears, also those without cases.
        var keys: [String] = []
        var d = CivilDate(year: from.year, month: from.month, day: 1)
        while d <= to {
            keys.append(d.monthKey)
            d = d.month == 12 ? CivilDate(year: d.year + 1, month: 1, day: 1) : CivilDate(year: d.year, month: d.month + 1, day: 1)
        }
        var totals = Counters()
        let months = keys.map { k -> (String, Counters) in
            let c = byMonth[k] ?? Counters()
            totals.add(c)
            return (k, c)
        }
        // Baseline: the same months one year earlier, for the months with mature pilot cases.
        var base = Group()
        for (k, g) in matureByMonth where g.cases > 0 {
            let y = Int(k.prefix(4))! - 1
            if let b = baseline["\(y)\(k.dropFirst(4))"] { base.cases += b.cases; base.reminded += b.reminded }
        }
        // Time to payment per channel, in days, from a histogram of whole hours.
        var times: [String: PaymentTimes] = [:]
        var hist: [String: [(Int, Int)]] = [:]
        for r in try Row.fetchAll(db, sql: """
            SELECT paid_channel, (paid_at - issued_at) / 3600 AS hours, count(*) FROM cases
            WHERE status = 'paid' AND issued_at >= ? AND issued_at < ? GROUP BY paid_channel, hours ORDER BY paid_channel, hours
            """, arguments: [start, end]) {
            hist[r[0] as String? ?? "other", default: []].append((r[1], r[2]))
        }
        for (channel, h) in hist {
            let n = h.reduce(0) { $0 + $1.1 }
            func quantile(_ q: Double) -> Double {
                let target = Int((q * Double(n)).rounded(.up))
                var seen = 0
                for (hours, count) in h {
                    seen += count
                    if seen >= max(target, 1) { return Double(max(hours, 0)) / 24 }
                }
                return Double(h.last!.0) / 24
            }
            times[channel] = PaymentTimes(count: n, medianDays: quantile(0.5), p90Days: quantile(0.9))
        }
        var languages: [String: Int] = [:]
        for r in try Row.fetchAll(db, sql: """
            SELECT view_lang, count(*) FROM cases WHERE view_lang IS NOT NULL AND status != 'cancelled'
            AND issued_at >= ? AND issued_at < ? GROUP BY view_lang
            """, arguments: [start, end]) {
            languages[r[0]] = r[1]
        }
        let all = Group(cases: qr.cases + noQR.cases, reminded: qr.reminded + noQR.reminded)
        var stats = PilotStats(from: from, to: to, months: months, totals: totals, rates: Rates(totals, mature: all),
                               baseline: .make("baseline", pilot: qr, reference: base),
                               controlGroup: .make("control group", pilot: qr, reference: noQR),
                               timeToPayment: times, languages: languages, qrPrinted: qr, withoutQR: noQR)
        stats.monthlyReminders = keys.map { k in
            (k, matureByMonth[k] ?? Group(), baseline["\(Int(k.prefix(4))! - 1)\(k.dropFirst(4))"])
        }
        return stats
    }
}
