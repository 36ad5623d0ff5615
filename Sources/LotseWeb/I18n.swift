import Foundation
import LotseCore

/// Texts of the pages, one JSON file per language in `templates/i18n/` (`de.json`, `en.json`, …):
/// a third language is one more file.
public struct Translations: Sendable {
    public let languages: [String]
    let texts: [String: [String: String]]
    public static let fallback = "de"

    public init(directory: String) throws {
        var texts: [String: [String: String]] = [:]
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for f in files.sorted() where f.hasSuffix(".json") {
            let lang = String(f.dropLast(5))
            guard let data = FileManager.default.contents(atPath: directory + "/" + f),
                  let dict = try? JSONDecoder().decode([String: String].self, from: data) else {
                throw LotseError.input("\(directory)/\(f): not a JSON object of strings")
            }
            texts[lang] = dict
        }
        guard let base = texts[Self.fallback] else { throw LotseError.input("\(directory): no \(Self.fallback).json") }
        // every language falls back to German for a key it lacks
        for (lang, dict) in texts where lang != Self.fallback {
            texts[lang] = base.merging(dict) { _, new in new }
        }
        self.texts = texts
        self.languages = [Self.fallback] + texts.keys.filter { $0 != Self.fallback }.sorted()
    }

    public func table(_ lang: String) -> [String: String] { texts[lang] ?? texts[Self.fallback]! }

    public func text(_ key: String, _ lang: String) -> String { table(lang)[key] ?? key }

    public func supports(_ lang: String) -> Bool { texts[lang] != nil }

    /// Picks the language: explicit choice, then the cookie, then Accept-Language, then German.
    public func negotiate(query: String?, cookie: String?, acceptLanguage: String?) -> String {
        if let q = query?.lowercased(), supports(q) { return q }
        if let c = cookie?.lowercased(), supports(c) { return c }
        if let header = acceptLanguage {
            var best: (String, Double)?
            for part in header.split(separator: ",") {
                let pieces = part.split(separator: ";")
                let tag = pieces[0].trimmingCharacters(in: .whitespaces).lowercased()
                let primary = String(tag.split(separator: "-").first ?? "")
                var q = 1.0
                for p in pieces.dropFirst() {
                    let kv = p.trimmingCharacters(in: .whitespaces)
                    if kv.hasPrefix("q="), let v = Double(kv.dropFirst(2)) { q = v }
                }
                if supports(primary), q > 0, q > (best?.1 ?? -1) { best = (primary, q) }
            }
            if let b = best { return b.0 }
        }
        return Self.fallback
    }

    /// `21.03.2026` or `21 March 2026`
    public func date(_ d: CivilDate, _ lang: String) -> String {
        let pattern = text("date_format", lang)
        return pattern
            .replacingOccurrences(of: "{d}", with: String(d.day))
            .replacingOccurrences(of: "{dd}", with: d.day < 10 ? "0\(d.day)" : "\(d.day)")
            .replacingOccurrences(of: "{mm}", with: d.month < 10 ? "0\(d.month)" : "\(d.month)")
            .replacingOccurrences(of: "{month}", with: text("month_\(d.month)", lang))
            .replacingOccurrences(of: "{yyyy}", with: String(d.year))
    }
}
