import Foundation
import LotseCore
import Synchronization

/// Texts of the pages, one JSON file per language in `templates/i18n/` (`de.json`, `en.json`, …):
/// a third language is one more file.
public struct Translations: Sendable {
    public let languages: [String]
    let texts: [String: [String: String]]
    let datePatterns: [String: [DatePiece]]
    let monthNames: [String: [String]]
    /// The language chosen for each `Accept-Language` value seen: phones send a handful of distinct values, and
    /// parsing one cost about as much as the rest of a cached case page (issue 13's benchmark with and without it).
    let negotiated = NegotiatedLanguages()
    public static let fallback = "de"
    /// The languages the office and the dashboard are offered in (see `languages(for:)`).
    let offered: [Part: [String]]
    /// The keys each language's own file has (before German fills the gaps): what the test of missing keys reads.
    public let ownKeys: [String: Set<String>]

    /// The parts of the site and the languages they are offered in.
    public enum Part: Sendable, Hashable {
        /// The motorist's pages: every language.
        case motorist
        /// The office's console (`o_` texts).
        case office
        /// The evaluators' dashboard (`stats_` texts).
        case dashboard
    }

    public func languages(for part: Part) -> [String] {
        offered[part] ?? languages
    }

    /// `lang` if `part` is offered in it; German for a variant of German; otherwise English where offered (a reader who
    /// chose another language), else German.
    public func language(_ lang: String, for part: Part) -> String {
        let offered = languages(for: part)
        if offered.contains(lang) { return lang }
        // a variant of German (Leichte Sprache) reads German
        if lang.hasPrefix(Self.fallback + "-") { return Self.fallback }
        return lang != Self.fallback && offered.contains("en") ? "en" : Self.fallback
    }

    /// The direction of the language's script (`text_direction` in its file): `rtl` or `ltr`.
    public func direction(_ lang: String) -> String { table(lang)["text_direction"] == "rtl" ? "rtl" : "ltr" }

    public init(directory: String) throws {
        var texts: [String: [String: String]] = [:]
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for f in files.sorted() where f.hasSuffix(".json") {
            let lang = String(f.dropLast(5))
            guard let data = FileManager.default.contents(atPath: directory + "/" + f),
                let dict = try? JSONDecoder().decode([String: String].self, from: data)
            else {
                throw LotseError.input("\(directory)/\(f): not a JSON object of strings")
            }
            texts[lang] = dict
        }
        guard let base = texts[Self.fallback] else { throw LotseError.input("\(directory): no \(Self.fallback).json") }
        let own = texts.mapValues { Set($0.keys) }
        ownKeys = own
        // every language falls back to German for a key it lacks
        for (lang, dict) in texts where lang != Self.fallback {
            texts[lang] = base.merging(dict) { _, new in new }
        }
        self.texts = texts
        datePatterns = texts.mapValues { Self.datePattern($0["date_format"] ?? "{dd}.{mm}.{yyyy}") }
        monthNames = texts.mapValues { t in (1...12).map { t["month_\($0)"] ?? String($0) } }
        // German, German's variants (Leichte Sprache, `de-x-ls`), English, then the others by code
        func rank(_ code: String) -> Int { code == Self.fallback ? 0 : code.hasPrefix(Self.fallback + "-") ? 1 : code == "en" ? 2 : 3 }
        let languages = texts.keys.sorted { (rank($0), $0) < (rank($1), $1) }
        self.languages = languages
        // the office (`o_`) and the dashboard (`stats_`; its CSV's column names are optional) are offered in the languages
        // that have all their texts, the motorist's pages in every language
        func complete(_ prefix: String) -> [String] {
            let needed = base.keys.filter { $0.hasPrefix(prefix) && !$0.hasPrefix("stats_csv_") }
            return languages.filter { lang in needed.allSatisfy { own[lang]?.contains($0) == true } }
        }
        offered = [.office: complete("o_"), .dashboard: complete("stats_")]
    }

    public func table(_ lang: String) -> [String: String] { texts[lang] ?? texts[Self.fallback]! }

    public func text(_ key: String, _ lang: String) -> String { table(lang)[key] ?? key }

    public func supports(_ lang: String) -> Bool { texts[lang] != nil }

    /// Picks the language: explicit choice, then the cookie, then Accept-Language, then German.
    public func negotiate(query: String?, cookie: String?, acceptLanguage: String?) -> String {
        if let q = query?.lowercased(), supports(q) { return q }
        if let c = cookie?.lowercased(), supports(c) { return c }
        if let header = acceptLanguage {
            if let known = negotiated.language(for: header) { return known }
            let chosen = preferred(acceptLanguage: header)
            negotiated.remember(chosen, for: header)
            return chosen
        }
        return Self.fallback
    }

    /// The supported language the header prefers most (highest `q`, the first of equals); German when none.
    func preferred(acceptLanguage header: String) -> String {
        var best: (String, Double)?
        for part in header.split(separator: ",") {
            let pieces = part.split(separator: ";")
            // a part of nothing but semicolons (`de,;`) has no tag: it trapped here and ended the server
            guard let first = pieces.first else { continue }
            let tag = first.trimmingCharacters(in: .whitespaces).lowercased()
            let primary = String(tag.split(separator: "-").first ?? "")
            var q = 1.0
            for p in pieces.dropFirst() {
                let kv = p.trimmingCharacters(in: .whitespaces)
                if kv.hasPrefix("q="), let v = Double(kv.dropFirst(2)) { q = v }
            }
            if supports(primary), q > 0, q > (best?.1 ?? -1) { best = (primary, q) }
        }
        return best?.0 ?? Self.fallback
    }

    /// `21.03.2026` or `21 March 2026`, from the language's `date_format` (`{d}`, `{dd}`, `{mm}`, `{month}`, `{yyyy}`).
    public func date(_ d: CivilDate, _ lang: String) -> String {
        var out = ""
        for piece in datePatterns[lang] ?? datePatterns[Self.fallback]! {
            switch piece {
            case .text(let t): out += t
            case .day: out += String(d.day)
            case .day2:
                if d.day < 10 { out += "0" }
                out += String(d.day)
            case .month2:
                if d.month < 10 { out += "0" }
                out += String(d.month)
            case .monthName: out += monthNames[lang]?[d.month - 1] ?? String(d.month)
            case .year: out += String(d.year)
            }
        }
        return out
    }

    enum DatePiece: Sendable, Equatable {
        case text(String)
        case day, day2, month2, monthName, year
    }

    /// `date_format` cut into its fields once, at start-up.
    static func datePattern(_ format: String) -> [DatePiece] {
        let fields: [String: DatePiece] = ["d": .day, "dd": .day2, "mm": .month2, "month": .monthName, "yyyy": .year]
        var pieces: [DatePiece] = []
        var rest = Substring(format)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}"),
            let field = fields[String(rest[rest.index(after: open)..<close])]
        {
            if open > rest.startIndex { pieces.append(.text(String(rest[..<open]))) }
            pieces.append(field)
            rest = rest[rest.index(after: close)...]
        }
        if !rest.isEmpty { pieces.append(.text(String(rest))) }
        return pieces
    }
}

/// The languages chosen for `Accept-Language` values, at most `capacity` of them (then it starts afresh: an attacker
/// sending endless distinct values costs a parse each, as without the memo, and never unbounded memory).
final class NegotiatedLanguages: Sendable {
    let capacity: Int
    private let chosen = Mutex([String: String]())

    init(capacity: Int = 1024) { self.capacity = capacity }

    func language(for header: String) -> String? { chosen.withLock { $0[header] } }

    func remember(_ language: String, for header: String) {
        guard header.utf8.count <= 256 else { return }
        chosen.withLock { map in
            if map.count >= capacity { map.removeAll(keepingCapacity: true) }
            map[header] = language
        }
    }
}

extension Translations {
    /// `text` with each `{name}` replaced by `value(name)` (left as it is where that gives nil), in one pass over the
    /// UTF-8 (Foundation's `replacingOccurrences` costs microseconds a call on Linux).
    static func fill(_ text: String, _ value: (Substring) -> String?) -> String {
        guard text.utf8.contains(UInt8(ascii: "{")) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 32)
        var rest = Substring(text)
        while let open = rest.utf8.firstIndex(of: UInt8(ascii: "{")) {
            out += rest[..<open]
            let after = rest[open...].dropFirst()
            guard let close = after.utf8.firstIndex(of: UInt8(ascii: "}")), let replacement = value(after[..<close]) else {
                out += "{"
                rest = after
                continue
            }
            out += replacement
            rest = after[after.index(after: close)...]
        }
        out += rest
        return out
    }
}
