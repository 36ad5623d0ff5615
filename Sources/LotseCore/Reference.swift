/// ISO 11649 creditor references (RF) and the ISO 13616 IBAN check, both mod 97.
public enum RFReference {
    /// Builds `RFkk` + the letters and digits of `base` (at most 21 of them).
    public static func make(from base: String) -> String? {
        let body = CaseNumber.compact(base)
        guard !body.isEmpty, body.count <= 21 else { return nil }
        guard let n = mod97(body + "RF00") else { return nil }
        let check = 98 - n
        return "RF" + (check < 10 ? "0\(check)" : "\(check)") + body
    }

    public static func isValid(_ ref: String) -> Bool {
        let r = String(ref.uppercased().filter { $0 != " " })
        guard r.count >= 5, r.count <= 25, r.hasPrefix("RF"),
            r.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
        else { return false }
        let moved = String(r.dropFirst(4)) + String(r.prefix(4))
        return mod97(moved) == 1
    }

    /// The payload (without `RFkk`) of a valid reference.
    public static func body(_ ref: String) -> String? {
        let r = String(ref.uppercased().filter { $0 != " " })
        return isValid(r) ? String(r.dropFirst(4)) : nil
    }

    /// Maps letters A=10 … Z=35 and reduces mod 97 digit by digit.
    public static func mod97(_ s: String) -> Int? {
        var n = 0
        for ch in s.utf8 {
            switch ch {
            case 48...57: n = (n * 10 + Int(ch - 48)) % 97
            case 65...90: n = (n * 100 + Int(ch - 55)) % 97
            case 97...122: n = (n * 100 + Int(ch - 87)) % 97
            default: return nil
            }
        }
        return n
    }
}

public enum IBAN {
    public static func normalise(_ s: String) -> String { String(s.uppercased().filter { $0 != " " }) }

    public static func isValid(_ raw: String) -> Bool {
        let s = normalise(raw)
        guard s.count >= 15, s.count <= 34, s.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }),
            s.prefix(2).allSatisfy({ $0.isLetter })
        else { return false }
        if s.hasPrefix("DE") && s.count != 22 { return false }
        return RFReference.mod97(String(s.dropFirst(4)) + String(s.prefix(4))) == 1
    }
}
