/// Money is integer euro cents throughout Lotse; never floating point.
public enum Money {
    /// Parses `25,00`, `25.00`, `25`, `25,5` (German or English decimal mark, no thousands separators).
    public static func parseCents(_ text: String) -> Int? {
        var s = Substring(text.trimmingSpaces())
        if s.hasPrefix("EUR") { s = s.dropFirst(3) }
        if s.hasSuffix("€") { s = s.dropLast() }
        s = Substring(String(s).trimmingSpaces())
        guard !s.isEmpty, s.count <= 12 else { return nil }
        var euros = 0
        var cents = 0
        var fractionDigits = 0
        var seenMark = false
        var digits = 0
        for ch in s.utf8 {
            switch ch {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                let d = Int(ch - UInt8(ascii: "0"))
                if seenMark {
                    fractionDigits += 1
                    if fractionDigits > 2 { return nil }
                    cents = cents * 10 + d
                } else {
                    euros = euros * 10 + d
                    digits += 1
                }
            case UInt8(ascii: ","), UInt8(ascii: "."):
                if seenMark { return nil }
                seenMark = true
            default:
                return nil
            }
        }
        if digits == 0 { return nil }
        if fractionDigits == 1 { cents *= 10 }
        if seenMark && fractionDigits == 0 { return nil }
        return euros * 100 + cents
    }

    /// `25.00` as used by PayPal and the EPC QR code.
    public static func plain(_ cents: Int) -> String {
        let sign = cents < 0 ? "-" : ""
        let a = abs(cents)
        return "\(sign)\(a / 100).\(twoDigits(a % 100))"
    }

    /// `€25.00` in English; `25,00 €` in German and the page's other languages (as a reader in Germany sees euros written,
    /// and as the ticket shows them).
    public static func display(_ cents: Int, language: String) -> String {
        let sign = cents < 0 ? "-" : ""
        let a = abs(cents)
        if language == "en" {
            return "\(sign)€\(grouped(a / 100, separator: ",")).\(twoDigits(a % 100))"
        }
        return "\(sign)\(grouped(a / 100, separator: ".")),\(twoDigits(a % 100))\u{00A0}€"
    }

    static func twoDigits(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    static func grouped(_ n: Int, separator: String) -> String {
        let s = String(n)
        guard s.count > 3 else { return s }
        var out = ""
        for (i, ch) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out += separator }
            out.append(ch)
        }
        return out
    }
}

extension String {
    /// Trims Unicode whitespace (spaces, tabs, CR, LF, NBSP, the other Unicode spaces) from both ends, whole
    /// characters at a time: a character whose UTF-8 ends in the byte 0xA0 (à, Š, †) is never cut.
    /// Text that starts and ends with a visible ASCII byte (almost every field) is returned as it is.
    public func trimmingSpaces() -> String {
        let u = self.utf8
        guard let first = u.first, let last = u.last else { return self }
        if first > 32 && first < 0x7F && last > 32 && last < 0x7F { return self }
        var start = startIndex
        var end = endIndex
        while start < end, self[start].isWhitespace { start = index(after: start) }
        while end > start, self[index(before: end)].isWhitespace { end = index(before: end) }
        if start == startIndex && end == endIndex { return self }
        return String(self[start..<end])
    }
}
