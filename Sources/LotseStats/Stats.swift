import Foundation
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

    public static let names = [
        "issued", "scanned", "handoff_started", "paid", "paid_online", "paid_bank_transfer", "paid_other",
        "paid_on_time", "reminded", "unmatched_bank_payments",
    ]

    public var values: [Int] {
        [issued, scanned, handoffStarted, paid, paidOnline, paidBankTransfer, paidOther, paidOnTime, reminded, unmatchedBankPayments]
    }

    mutating func add(_ o: Counters) {
        issued += o.issued
        scanned += o.scanned
        handoffStarted += o.handoffStarted
        paid += o.paid
        paidOnline += o.paidOnline
        paidBankTransfer += o.paidBankTransfer
        paidOther += o.paidOther
        paidOnTime += o.paidOnTime
        reminded += o.reminded
        unmatchedBankPayments += o.unmatchedBankPayments
    }

    public var dictionary: [String: Int] { Dictionary(uniqueKeysWithValues: zip(Self.names, values)) }
}

public struct Rates: Sendable, Equatable {
    public var scanRate: Double?
    public var onlineShareOfPaid: Double?
    public var onlineShareOfIssued: Double?
    public var onTimeRate: Double?
    /// The reminder rate, one definition everywhere (headline, rates, chart, CSV, API): of the tickets with a QR
    /// code whose reminder date (deadline and grace days) has passed, the share that got a reminder.
    public var reminderRate: Double?
    /// The same share over every ticket, those without a QR code (the control group) included: another figure,
    /// named apart.
    public var reminderRateAllTickets: Double?

    /// The sentence that defines the reminder rate (the dashboard shows it in the page's language).
    public static let reminderRateDefinition =
        "Of the tickets with a QR code whose reminder date (deadline and grace days) has passed, the share that got a reminder."

    init(_ c: Counters, qr: Group, all: Group) {
        func r(_ a: Int, _ b: Int) -> Double? { b > 0 ? Double(a) / Double(b) : nil }
        scanRate = r(c.scanned, c.issued)
        onlineShareOfPaid = r(c.paidOnline, c.paid)
        onlineShareOfIssued = r(c.paidOnline, c.issued)
        onTimeRate = r(c.paidOnTime, c.issued)
        reminderRate = qr.rate
        reminderRateAllTickets = all.rate
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
        guard let p1 = pilot.rate, let p2 = reference.rate else {
            c.note = "not enough data"
            return c
        }
        c.difference = p1 - p2
        let enough = [pilot, reference].allSatisfy { g in g.cases >= 30 && g.reminded >= 5 && g.cases - g.reminded >= 5 }
        guard enough else {
            c.note = "not enough data"
            return c
        }
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
    /// With the control group (tickets without a QR code) of the month.
    public var monthlyReminders: [(month: String, pilot: Group, baseline: Group?, control: Group?)] = []
    /// Money of the cases issued in each month listed, and in total (cents).
    public var money: [(month: String, money: StatisticsMoney)] = []
    public var moneyTotals = StatisticsMoney()
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
    /// Computes the statistics of a period from what the cells hold for it (`Store.statistics`).
    /// - Parameters:
    ///   - reading: the cells' sums for the period, read with `matureBefore` = `asOf` minus the grace days: cases
    ///     count towards reminder rates only once deadline + grace has passed.
    ///
    /// The months listed are those of the period that lie between the first and the last month with data (gaps
    /// inside included): a period of 1970–9999 costs what the data costs, not 96,000 empty months.
    public static func run(_ reading: StatisticsReading, baseline: [String: Group]) -> PilotStats {
        let from = reading.from
        let to = reading.to
        var byMonth: [String: Counters] = [:]
        var qr = Group()
        var noQR = Group()
        var matureByMonth: [String: Group] = [:]
        var controlByMonth: [String: Group] = [:]
        for cell in reading.months {
            let m = cell.month
            var c = Counters()
            c.issued = cell.counts.issued
            c.scanned = cell.counts.scanned
            c.handoffStarted = cell.counts.handoff
            c.paid = cell.counts.paid
            c.paidOnline = cell.counts.paidPayPal
            c.paidBankTransfer = cell.counts.paidBankTransfer
            c.paidOther = cell.counts.paidCash
            c.paidOnTime = cell.counts.paidOnTime
            c.reminded = cell.counts.reminded
            byMonth[m, default: Counters()].add(c)
            guard cell.mature else { continue }
            if cell.qrPrinted {
                qr.cases += c.issued
                qr.reminded += c.reminded
                matureByMonth[m, default: Group()].cases += c.issued
                matureByMonth[m, default: Group()].reminded += c.reminded
            } else {
                noQR.cases += c.issued
                noQR.reminded += c.reminded
                controlByMonth[m, default: Group()].cases += c.issued
                controlByMonth[m, default: Group()].reminded += c.reminded
            }
        }
        // Transfers nobody could match, by month of booking (Berlin).
        var monthOfHour: [Int64: String] = [:]
        for hourCount in reading.unmatchedByHour {
            let h = hourCount.hour
            let m = monthOfHour[h] ?? BerlinTime.local(h * 3600).date.monthKey
            monthOfHour[h] = m
            byMonth[m, default: Counters()].unmatchedBankPayments += hourCount.count
        }
        // Every month of the period between the first and the last month with data appears, also those without cases.
        var keys: [String] = []
        if let firstData = reading.firstDataDay, let lastData = reading.lastDataDay {
            let first = max(from, firstData)
            let last = min(to, lastData)
            var d = CivilDate(year: first.year, month: first.month, day: 1)
            while d <= last {
                keys.append(d.monthKey)
                d = d.month == 12 ? CivilDate(year: d.year + 1, month: 1, day: 1) : CivilDate(year: d.year, month: d.month + 1, day: 1)
            }
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
            if let b = baseline["\(Int(k.prefix(4))! - 1)\(k.dropFirst(4))"] {
                base.cases += b.cases
                base.reminded += b.reminded
            }
        }
        // Time to payment per channel, in days, from quarter-day buckets.
        var times: [String: PaymentTimes] = [:]
        var hist: [String: [(Int, Int)]] = [:]
        for bucket in reading.payTimes {
            hist[bucket.channel, default: []].append((bucket.bucket, bucket.count))
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
        let languages = reading.languages
        let all = Group(cases: qr.cases + noQR.cases, reminded: qr.reminded + noQR.reminded)
        var stats = PilotStats(
            from: from,
            to: to,
            months: months,
            totals: totals,
            rates: Rates(totals, qr: qr, all: all),
            baseline: .make("baseline", pilot: qr, reference: base),
            controlGroup: .make("control group", pilot: qr, reference: noQR),
            timeToPayment: times,
            languages: languages,
            qrPrinted: qr,
            withoutQR: noQR
        )
        stats.money = keys.map { k in (k, reading.money[k] ?? StatisticsMoney()) }
        for (_, m) in stats.money { stats.moneyTotals.add(m) }
        stats.monthlyReminders = keys.map { k in
            (k, matureByMonth[k] ?? Group(), baseline["\(Int(k.prefix(4))! - 1)\(k.dropFirst(4))"], controlByMonth[k])
        }
        return stats
    }
}
