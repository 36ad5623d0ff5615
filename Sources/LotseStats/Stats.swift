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
    /// Folds cases not yet counted into the statistics cells (once per new case; later changes are applied by
    /// the `cases_stats` trigger). Runs inside a write transaction.
    public static func fold(_ db: Database) throws {
        let last = try Int64.fetchOne(db, sql: "SELECT last_case_id FROM stats_state WHERE id = 1") ?? 0
        guard let top = try Int64.fetchOne(db, sql: "SELECT max(id) FROM cases"), top > last else { return }
        try db.execute(sql: """
            INSERT INTO stats_cells (day, qr, deadline, issued, scanned, handoff, paid, paid_paypal, paid_bank, paid_cash,
                                     paid_on_time, reminded)
            SELECT issued_day, qr_printed, cases.deadline, sum(status != 'cancelled'),
                   sum(status != 'cancelled' AND first_viewed_at IS NOT NULL), sum(status != 'cancelled' AND handoff_at IS NOT NULL),
                   sum(status = 'paid'), sum(status = 'paid' AND paid_channel = 'paypal'),
                   sum(status = 'paid' AND paid_channel = 'bank_transfer'), sum(status = 'paid' AND paid_channel = 'cash'),
                   sum(status = 'paid' AND paid_at < coalesce(d.end_utc, 0)), sum(status != 'cancelled' AND reminded_at IS NOT NULL)
            FROM cases LEFT JOIN deadline_ends d ON d.deadline = cases.deadline
            WHERE cases.id > ?1 AND cases.id <= ?2
            GROUP BY issued_day, qr_printed, cases.deadline
            ON CONFLICT (day, qr, deadline) DO UPDATE SET issued = issued + excluded.issued, scanned = scanned + excluded.scanned,
                handoff = handoff + excluded.handoff, paid = paid + excluded.paid, paid_paypal = paid_paypal + excluded.paid_paypal,
                paid_bank = paid_bank + excluded.paid_bank, paid_cash = paid_cash + excluded.paid_cash,
                paid_on_time = paid_on_time + excluded.paid_on_time, reminded = reminded + excluded.reminded;
            """, arguments: [last, top])
        try db.execute(sql: """
            INSERT INTO stats_pay_times (day, channel, bucket, n)
            SELECT issued_day, paid_channel, (paid_at - issued_at) / 21600, count(*) FROM cases
            WHERE id > ?1 AND id <= ?2 AND status = 'paid' GROUP BY issued_day, paid_channel, (paid_at - issued_at) / 21600
            ON CONFLICT (day, channel, bucket) DO UPDATE SET n = n + excluded.n;
            """, arguments: [last, top])
        try db.execute(sql: """
            INSERT INTO stats_langs (day, lang, n)
            SELECT issued_day, view_lang, count(*) FROM cases
            WHERE id > ?1 AND id <= ?2 AND status != 'cancelled' AND view_lang IS NOT NULL GROUP BY issued_day, view_lang
            ON CONFLICT (day, lang) DO UPDATE SET n = n + excluded.n;
            """, arguments: [last, top])
        try db.execute(sql: """
            UPDATE stats_state SET last_case_id = ?2 WHERE id = 1;
            """, arguments: [last, top])
    }

    /// Computes the statistics from the cells (a few per day of the period) and the payments table.
    /// - Parameters:
    ///   - asOf: the day the figures are for; cases count towards reminder rates only once deadline + grace has passed.
    public static func run(_ db: Database, from: CivilDate, to: CivilDate, asOf: CivilDate, graceDays: Int,
                           baseline: [String: Group]) throws -> PilotStats {
        let start = BerlinTime.utc(date: from, hour: 0, minute: 0)
        let end = BerlinTime.utc(date: to.adding(days: 1), hour: 0, minute: 0)
        let matureBefore = asOf.adding(days: -graceDays).description
        let period: StatementArguments = [from.description, to.description]
        var byMonth: [String: Counters] = [:]
        var qr = Group(), noQR = Group()
        var matureByMonth: [String: Group] = [:]
        for r in try Row.fetchAll(db, sql: """
            SELECT substr(day, 1, 7), qr, deadline < ?, sum(issued), sum(scanned), sum(handoff), sum(paid), sum(paid_paypal),
                   sum(paid_bank), sum(paid_cash), sum(paid_on_time), sum(reminded)
            FROM stats_cells WHERE day >= ? AND day <= ? GROUP BY 1, 2, 3
            """, arguments: [matureBefore] + period) {
            let m: String = r[0]
            var c = Counters()
            c.issued = r[3]; c.scanned = r[4]; c.handoffStarted = r[5]; c.paid = r[6]; c.paidOnline = r[7]
            c.paidBankTransfer = r[8]; c.paidOther = r[9]; c.paidOnTime = r[10]; c.reminded = r[11]
            byMonth[m, default: Counters()].add(c)
            let isMature: Bool = r[2]
            guard isMature else { continue }
            let printed: Bool = r[1]
            if printed {
                qr.cases += c.issued; qr.reminded += c.reminded
                matureByMonth[m, default: Group()].cases += c.issued
                matureByMonth[m, default: Group()].reminded += c.reminded
            } else {
                noQR.cases += c.issued; noQR.reminded += c.reminded
            }
        }
        // Transfers nobody could match, by month of booking (Berlin).
        var monthOfHour: [Int64: String] = [:]
        for r in try Row.fetchAll(db, sql: """
            SELECT paid_at / 3600 AS h, count(*) FROM payments WHERE disposition = 'unmatched' AND paid_at >= ? AND paid_at < ? GROUP BY h
            """, arguments: [start, end]) {
            let h: Int64 = r[0]
            let m = monthOfHour[h] ?? BerlinTime.local(h * 3600).date.monthKey
            monthOfHour[h] = m
            byMonth[m, default: Counters()].unmatchedBankPayments += r[1] as Int
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
            if let b = baseline["\(Int(k.prefix(4))! - 1)\(k.dropFirst(4))"] { base.cases += b.cases; base.reminded += b.reminded }
        }
        // Time to payment per channel, in days, from quarter-day buckets.
        var times: [String: PaymentTimes] = [:]
        var hist: [String: [(Int, Int)]] = [:]
        for r in try Row.fetchAll(db, sql: """
            SELECT channel, bucket, sum(n) FROM stats_pay_times WHERE day >= ? AND day <= ? GROUP BY channel, bucket
            HAVING sum(n) > 0 ORDER BY channel, bucket
            """, arguments: period) {
            hist[r[0] as String, default: []].append((r[1], r[2]))
        }
        for (channel, h) in hist {
            let n = h.reduce(0) { $0 + $1.1 }
            func quantile(_ q: Double) -> Double {
                let target = max(Int((q * Double(n)).rounded(.up)), 1)
                var seen = 0
                for (bucket, count) in h {
                    seen += count
                    if seen >= target { return Double(max(bucket, 0)) / 4 }
                }
                return Double(h.last!.0) / 4
            }
            times[channel] = PaymentTimes(count: n, medianDays: quantile(0.5), p90Days: quantile(0.9))
        }
        var languages: [String: Int] = [:]
        for r in try Row.fetchAll(db, sql: """
            SELECT lang, sum(n) FROM stats_langs WHERE day >= ? AND day <= ? GROUP BY lang HAVING sum(n) > 0
            """, arguments: period) {
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
