import Foundation

/// Decodes an `application/x-www-form-urlencoded` body: `+` is a space, `%XX` a byte; a pair whose
/// percent-encoding is broken keeps an empty key or value; the first value of a repeated key counts.
public enum FormDecoding {
    public static func decode(_ body: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let keyAndValue = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = unescape(keyAndValue[0])
            let value = keyAndValue.count > 1 ? unescape(keyAndValue[1]) : ""
            if out[key] == nil { out[key] = value }
        }
        return out
    }

    static func unescape(_ text: Substring) -> String {
        String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
    }
}
