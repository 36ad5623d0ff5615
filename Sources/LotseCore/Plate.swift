/// Licence plates. German plates are normalised to `KL-AB 123`; foreign plates are kept as written.
public enum Plate {
    /// Normalises a plate. Returns nil when a German plate cannot be read at all.
    public static func normalise(_ raw: String, country: String) -> String? {
        let trimmed = raw.trimmingSpaces()
        guard !trimmed.isEmpty else { return nil }
        guard country == "D" else { return trimmed }
        let upper = trimmed.uppercased()
        // Tokens separated by space or hyphen; also `KL:AB123` is seen.
        var groups: [String] = []
        var current = ""
        for ch in upper {
            if ch == " " || ch == "-" || ch == ":" || ch == "\t" {
                if !current.isEmpty { groups.append(current); current = "" }
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

    /// Special German plates (Bundeswehr, diplomats, …) that do not follow the usual pattern are kept
    /// when they consist of letters, digits, spaces and hyphens.
    static func plausible(_ s: String) -> String? {
        guard s.count >= 2, s.count <= 15,
              s.allSatisfy({ ($0.isLetter || $0.isNumber || $0 == " " || $0 == "-") }) else { return nil }
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
            if seenDigit && (ch.isLetter || ch.isNumber) { out.append("*"); continue }
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
