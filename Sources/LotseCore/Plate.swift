/// Licence plates. German plates are normalised to `KL-AB 123`; foreign plates are kept as written.
public enum Plate {
    /// Normalises a plate. Returns nil when a German plate cannot be read at all.
    public static func normalise(_ raw: String, country: String) -> String? {
        let trimmed = raw.trimmingSpaces()
        guard !trimmed.isEmpty else { return nil }
        guard country == "D" else { return trimmed }
        if let fast = asciiNormalise(trimmed) { return fast }
        let upper = trimmed.uppercased()
        // Tokens separated by space or hyphen; also `KL:AB123` is seen.
        var groups: [String] = []
        var current = ""
        for ch in upper {
            if ch == " " || ch == "-" || ch == ":" || ch == "\t" {
                if !current.isEmpty {
                    groups.append(current)
                    current = ""
                }
            } else {
                current.append(ch)
            }
        }
        if !current.isEmpty { groups.append(current) }
        func isLetters(_ s: Substring) -> Bool { !s.isEmpty && s.allSatisfy { $0.isLetter && ($0.isASCII || "ÄÖÜ".contains($0)) } }
        func isDigits(_ s: Substring) -> Bool { !s.isEmpty && s.allSatisfy { $0.isASCII && $0.isNumber } }
        // District, letters, digits (+ optional E/H suffix), digits may be glued to the letters.
        var parts = groups.map { Substring($0) }
        if parts.count == 2 {
            // `KL AB123`: split letters and digits of the second part
            let p = parts[1]
            if let firstDigit = p.firstIndex(where: { $0.isNumber }), firstDigit != p.startIndex {
                parts = [parts[0], p[p.startIndex..<firstDigit], p[firstDigit...]]
            }
        }
        guard parts.count == 3 else { return plausible(upper) }
        var digits = parts[2]
        var suffix = ""
        if let last = digits.last, last == "E" || last == "H" {
            suffix = String(last)
            digits = digits.dropLast()
        }
        guard isLetters(parts[0]), parts[0].count <= 3, isLetters(parts[1]), parts[1].count <= 2,
            isDigits(digits), digits.count <= 4, digits.first != "0"
        else { return plausible(upper) }
        return "\(parts[0])-\(parts[1]) \(digits)\(suffix)"
    }

    /// The common case without umlauts, on bytes: `KL-AB 123`, `kl ab123`, `KL:AB 123E`.
    static func asciiNormalise(_ s: String) -> String? {
        var groups: [[UInt8]] = [[], [], [], []]
        var g = 0
        var pending = false
        for var b in s.utf8 {
            if b >= 0x80 { return nil }
            if b == 32 || b == 45 || b == 58 || b == 9 {
                if !groups[g].isEmpty { pending = true }
                continue
            }
            if b >= 97 && b <= 122 { b -= 32 }
            let isDigit = b >= 48 && b <= 57
            let isLetter = b >= 65 && b <= 90
            guard isDigit || isLetter else { return nil }
            // letters followed directly by digits start a new group (`AB123`)
            if pending || (g == 1 && isDigit && !groups[g].isEmpty && !(groups[g].last! >= 48 && groups[g].last! <= 57)) {
                g += 1
                pending = false
                if g > 2 { return nil }
            }
            groups[g].append(b)
        }
        guard g == 2 else { return nil }
        var digits = groups[2]
        var suffix: UInt8? = nil
        if let last = digits.last, last == 69 || last == 72 {
            suffix = last
            digits.removeLast()
        }
        func letters(_ a: [UInt8], max: Int) -> Bool { !a.isEmpty && a.count <= max && a.allSatisfy { $0 >= 65 && $0 <= 90 } }
        guard letters(groups[0], max: 3), letters(groups[1], max: 2), !digits.isEmpty, digits.count <= 4,
            digits.allSatisfy({ $0 >= 48 && $0 <= 57 }), digits[0] != 48
        else { return nil }
        var out = groups[0]
        out.append(45)
        out += groups[1]
        out.append(32)
        out += digits
        if let suffix { out.append(suffix) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Special German plates (Bundeswehr, diplomats, …) that do not follow the usual pattern are kept
    /// when they consist of letters, digits, spaces and hyphens.
    static func plausible(_ s: String) -> String? {
        guard s.count >= 2, s.count <= 15,
            s.allSatisfy({ ($0.isLetter || $0.isNumber || $0 == " " || $0 == "-") })
        else { return nil }
        return s
    }

    /// The comparison key for lookups: letters and digits only, upper case.
    public static func key(_ s: String) -> String {
        String(s.uppercased().filter { $0.isLetter || $0.isNumber })
    }

    /// Shows only the start of a plate: `KL-AB 123` → `KL-AB 1**`.
    public static func masked(_ plate: String) -> String {
        var out = ""
        let chars = Array(plate)
        // keep everything up to and including the first digit, mask the other letters and digits
        var seenDigit = false
        for ch in chars {
            if seenDigit && (ch.isLetter || ch.isNumber) {
                out.append("*")
                continue
            }
            if ch.isNumber { seenDigit = true }
            out.append(ch)
        }
        if !seenDigit {
            // no digits (foreign or special plate): keep the first third
            let keep = max(1, chars.count / 3)
            out = String(chars.prefix(keep)) + String(chars.dropFirst(keep).map { ($0.isLetter || $0.isNumber) ? "*" : $0 })
        }
        return out
    }
}
