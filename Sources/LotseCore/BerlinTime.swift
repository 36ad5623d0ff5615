/// Civil dates and Europe/Berlin local time without a time-zone database.
///
/// Germany follows the EU rule since 1996: summer time (UTC+2) from the last Sunday of March,
/// 01:00 UTC, to the last Sunday of October, 01:00 UTC; otherwise UTC+1. Lotse stores UTC
/// (seconds since 1970) and shows Berlin time.
public struct CivilDate: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var year: Int, month: Int, day: Int
    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    public var daysSinceEpoch: Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    public init(daysSinceEpoch z0: Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        self.init(year: yoe + era * 400 + (m <= 2 ? 1 : 0), month: m, day: d)
    }

    public func adding(days: Int) -> CivilDate { CivilDate(daysSinceEpoch: daysSinceEpoch + days) }
    /// 0 = Sunday … 6 = Saturday.
    public var weekday: Int { ((daysSinceEpoch % 7) + 11) % 7 }

    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    public var isValid: Bool {
        year >= 1970 && year <= 9999 && month >= 1 && month <= 12 && day >= 1
            && day <= CivilDate.daysIn(month: month, year: year)
    }

    /// `yyyy-mm-dd`
    public var description: String { "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))" }
    /// `dd.mm.yyyy`
    public var german: String { "\(pad(day, 2)).\(pad(month, 2)).\(pad(year, 4))" }
    /// `yyyy-mm`
    public var monthKey: String { "\(pad(year, 4))-\(pad(month, 2))" }

    /// Parses `yyyy-mm-dd`.
    public init?(iso text: String) {
        let p = text.split(separator: "-", omittingEmptySubsequences: false)
        guard p.count == 3, p[0].count == 4, let y = Int(p[0]), let m = Int(p[1]), let d = Int(p[2]) else { return nil }
        self.init(year: y, month: m, day: d)
        if !isValid { return nil }
    }

    public static func < (a: CivilDate, b: CivilDate) -> Bool { a.daysSinceEpoch < b.daysSinceEpoch }
}

func pad(_ n: Int, _ width: Int) -> String {
    let s = String(n)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}

public enum BerlinTime {
    /// The last Sunday of a month.
    static func lastSunday(year: Int, month: Int) -> CivilDate {
        let last = CivilDate(year: year, month: month, day: CivilDate.daysIn(month: month, year: year))
        return last.adding(days: -last.weekday)
    }

    /// UTC offset in seconds at the given UTC instant.
    public static func offset(atUTC t: Int64) -> Int {
        let day = Int(floorDiv(t, 86400))
        let year = CivilDate(daysSinceEpoch: day).year
        let start = Int64(lastSunday(year: year, month: 3).daysSinceEpoch) * 86400 + 3600
        let end = Int64(lastSunday(year: year, month: 10).daysSinceEpoch) * 86400 + 3600
        return (t >= start && t < end) ? 7200 : 3600
    }

    /// Converts Berlin local wall time to UTC seconds. In the autumn hour that occurs twice the
    /// earlier (summer-time) instant is taken; a time in the spring gap is read as standard time.
    public static func utc(date: CivilDate, hour: Int, minute: Int, second: Int = 0) -> Int64 {
        let local = Int64(date.daysSinceEpoch) * 86400 + Int64(hour * 3600 + minute * 60 + second)
        let summer = local - 7200
        if offset(atUTC: summer) == 7200 { return summer }
        return local - 3600
    }

    public struct Local: Sendable {
        public var date: CivilDate
        public var hour: Int, minute: Int, second: Int
        /// `14.03.2026 08:12`
        public var german: String { "\(date.german) \(pad(hour, 2)):\(pad(minute, 2))" }
        /// `HH:MM`
        public var clock: String { "\(pad(hour, 2)):\(pad(minute, 2))" }
        /// `2026-03-14 08:12`
        public var iso: String { "\(date) \(pad(hour, 2)):\(pad(minute, 2))" }
    }

    public static func local(_ t: Int64) -> Local {
        let l = t + Int64(offset(atUTC: t))
        let day = floorDiv(l, 86400)
        let sec = Int(l - day * 86400)
        return Local(date: CivilDate(daysSinceEpoch: Int(day)), hour: sec / 3600, minute: (sec % 3600) / 60, second: sec % 60)
    }

    /// ISO 8601 UTC: `2026-03-14T07:12:00Z`
    public static func isoUTC(_ t: Int64) -> String {
        let day = floorDiv(t, 86400)
        let sec = Int(t - day * 86400)
        return "\(CivilDate(daysSinceEpoch: Int(day)))T\(pad(sec / 3600, 2)):\(pad((sec % 3600) / 60, 2)):\(pad(sec % 60, 2))Z"
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
}

/// Parses the time formats of the handheld exports. Returns UTC seconds.
public enum TimeParser {
    /// `2026-03-14T08:12`, `2026-03-14 08:12:30`, `2026-03-14T08:12:00+01:00`, `...Z`,
    /// `14.03.2026 08:12`. Without an offset the time is Berlin local time.
    public static func parse(_ text: String) -> Int64? {
        let b = Array(text.trimmingSpaces().utf8)
        var i = 0
        func num(_ n: Int) -> Int? {
            guard i + n <= b.count else { return nil }
            var v = 0
            for k in 0..<n {
                let c = b[i + k]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            i += n
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < b.count, b[i] == c else { return false }
            i += 1
            return true
        }
        var date: CivilDate
        if b.count >= 10 && b[4] == UInt8(ascii: "-") {
            guard let y = num(4), expect(UInt8(ascii: "-")), let m = num(2), expect(UInt8(ascii: "-")), let d = num(2) else { return nil }
            date = CivilDate(year: y, month: m, day: d)
        } else if b.count >= 10 && b[2] == UInt8(ascii: ".") {
            guard let d = num(2), expect(UInt8(ascii: ".")), let m = num(2), expect(UInt8(ascii: ".")), let y = num(4) else { return nil }
            date = CivilDate(year: y, month: m, day: d)
        } else {
            return nil
        }
        guard date.isValid else { return nil }
        guard i < b.count, b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: " ") else { return nil }
        i += 1
        while i < b.count && b[i] == UInt8(ascii: " ") { i += 1 }
        guard let hh = num(2), expect(UInt8(ascii: ":")), let mm = num(2), hh < 24, mm < 60 else { return nil }
        var ss = 0
        if i < b.count && b[i] == UInt8(ascii: ":") {
            i += 1
            guard let s = num(2), s < 60 else { return nil }
            ss = s
            if i < b.count && b[i] == UInt8(ascii: ".") {  // fractional seconds: ignored
                i += 1
                while i < b.count && b[i] >= 48 && b[i] <= 57 { i += 1 }
            }
        }
        if i == b.count { return BerlinTime.utc(date: date, hour: hh, minute: mm, second: ss) }
        let base = Int64(date.daysSinceEpoch) * 86400 + Int64(hh * 3600 + mm * 60 + ss)
        if b[i] == UInt8(ascii: "Z") && i + 1 == b.count { return base }
        guard b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") else { return nil }
        let sign: Int64 = b[i] == UInt8(ascii: "+") ? 1 : -1
        i += 1
        guard let oh = num(2) else { return nil }
        _ = expect(UInt8(ascii: ":"))
        guard let om = num(2), i == b.count, oh <= 14, om < 60 else { return nil }
        return base - sign * Int64(oh * 3600 + om * 60)
    }

    /// `dd.mm.yyyy` + `HH:MM` (WiNOWiG), `yyyy-mm-dd` + `HH:MM` (xOWi).
    public static func parse(date: String, time: String) -> Int64? {
        parse(date.trimmingSpaces() + " " + time.trimmingSpaces())
    }
}
