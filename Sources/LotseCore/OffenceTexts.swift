import Foundation

/// The offence texts a motorist reads (issue 16): the catalogue's German line cleaned of its form markers, and
/// translations from files beside the catalogue, `offences.LANG.csv` (`tbnr;text`, a header line, `#` comments).
/// A TBNR without a translation shows the cleaned German, marked as such (the page says it is German).
public struct OffenceTexts: Sendable {
    /// Language → TBNR → text.
    public let translations: [String: [String: String]]
    /// The catalogue's German lines cleaned once (`withCatalogue`): German text → cleaned text.
    var cleanedGerman: [String: String] = [:]

    public init(translations: [String: [String: String]] = [:]) {
        self.translations = translations
    }

    /// The same with the German lines of `texts` cleaned ahead (the case page's path takes them from here).
    public func cleaning(_ texts: some Sequence<String>) -> OffenceTexts {
        var copy = self
        for text in texts { copy.cleanedGerman[text] = Self.cleaned(text) }
        return copy
    }

    /// Reads every `offences.LANG.csv` in `folder`. A line that is not `tbnr;text` (six digits, some text) is an
    /// error naming the file and the line.
    public init(folder: String) throws {
        var translations: [String: [String: String]] = [:]
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        for file in files.sorted() where file.hasPrefix("offences.") && file.hasSuffix(".csv") {
            let lang = String(file.dropFirst("offences.".count).dropLast(".csv".count))
            let path = folder + "/" + file
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw LotseError.input("\(path): not UTF-8 text") }
            var texts: [String: String] = [:]
            for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
                if line.isEmpty || line.hasPrefix("#") || (index == 0 && line.lowercased().hasPrefix("tbnr;")) { continue }
                let parts = line.split(separator: ";", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, parts[0].count == 6, parts[0].allSatisfy(\.isASCII), Int(parts[0]) != nil, !parts[1].isEmpty else {
                    throw LotseError.input("\(path):\(index + 1): expected tbnr;text (six digits, then the text)")
                }
                guard texts[parts[0]] == nil else { throw LotseError.input("\(path):\(index + 1): TBNR \(parts[0]) is given twice") }
                texts[parts[0]] = parts[1]
            }
            translations[lang] = texts
        }
        self.translations = translations
    }

    /// What the page shows for `tbnr` in `lang`: the translation, or the cleaned German (`lang` of the text says
    /// which, for the page's `lang` attribute; `german` true when it fell back).
    public func display(tbnr: String, german: String, lang: String) -> (text: String, lang: String, fallback: Bool) {
        if lang != "de", let text = translations[lang]?[tbnr] { return (text, lang, false) }
        return (cleanedGerman[german] ?? Self.cleaned(german), "de", lang != "de")
    }

    /// The catalogue's line as a sentence for a reader: without the form's markers `*)` (choose the case that
    /// applies) and `+)` (insert the effect), a slash between two words read as "oder", and no doubled spaces or
    /// space before punctuation. Numbers of traffic signs keep their slashes (`Zeichen 314/315`).
    public static func cleaned(_ text: String) -> String {
        var s = text.replacingOccurrences(of: "*)", with: "").replacingOccurrences(of: "+)", with: "")
        var out = ""
        let chars = Array(s)
        for (i, c) in chars.enumerated() {
            if c == "/", i > 0, i + 1 < chars.count, chars[i - 1].isLetter, chars[i + 1].isLetter {
                out += " oder "
            } else if c == "/", i > 0, chars[i - 1].isLetter, i + 1 < chars.count, chars[i + 1] == " " {
                out += " oder"
            } else {
                out.append(c)
            }
        }
        s = out
        // a lone `*` left of a marker, a dash or comma the marker followed
        s = s.replacingOccurrences(of: " * ", with: " ").replacingOccurrences(of: " *.", with: ".")
        while s.contains("  ") { s = s.replacingOccurrences(of: "  ", with: " ") }
        for mark in [".", ",", ";", ":", ")"] { s = s.replacingOccurrences(of: " " + mark, with: mark) }
        s = s.replacingOccurrences(of: ",.", with: ".").replacingOccurrences(of: " -.", with: ".").replacingOccurrences(of: "-.", with: ".")
        s = s.replacingOccurrences(of: "( ", with: "(").replacingOccurrences(of: "()", with: "")
        return s.trimmingCharacters(in: .whitespaces)
    }
}
