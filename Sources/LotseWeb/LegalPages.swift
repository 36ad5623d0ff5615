import Foundation
import Hummingbird
import Logging
import NIOCore

/// The legal pages a German municipal site must have (issue 16): Impressum (§ 5 DDG), Datenschutzerklärung (DSGVO
/// Art. 13), Erklärung zur Barrierefreiheit (BITV 2.0) and Kontakt, from the city's own files
/// `pilot-data/pages/NAME.LANG.md` (the folder beside the catalogue), read once at start-up.
///
/// The files are a small, safe Markdown (`SafeMarkdown`): everything is escaped, links go only to http(s), mail,
/// telephone or the site itself. `{city}`, `{retention_days}`, `{payment_days}` and `{base_url}` are replaced by the
/// configuration, so that the privacy notice states the retention setting in force. A page missing in the reader's
/// language is shown in German with a note; a page missing in German too is a 404.
struct LegalPages: Sendable {
    static let names = ["impressum", "datenschutz", "barrierefreiheit", "kontakt"]

    struct Page: Sendable {
        var title: String
        var html: String
    }

    /// Page name → language → page.
    let pages: [String: [String: Page]]

    init(folder: String, values: [String: String], logger: Logger) {
        var pages: [String: [String: Page]] = [:]
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        for file in files.sorted() where file.hasSuffix(".md") {
            let parts = file.dropLast(3).split(separator: ".")
            guard parts.count == 2, Self.names.contains(String(parts[0])) else {
                logger.warning("legal pages: \(folder)/\(file) is not NAME.LANG.md with a known name; ignored")
                continue
            }
            guard var text = try? String(contentsOfFile: folder + "/" + file, encoding: .utf8) else {
                logger.warning("legal pages: \(folder)/\(file) is not UTF-8 text; ignored")
                continue
            }
            for (key, value) in values { text = text.replacingOccurrences(of: "{" + key + "}", with: value) }
            let rendered = SafeMarkdown.render(text)
            pages[String(parts[0]), default: [:]][String(parts[1])] = Page(title: rendered.title ?? String(parts[0]), html: rendered.html)
        }
        self.pages = pages
    }

    /// The page in `lang`, or in German with `fallback` true; nil when there is none.
    func page(_ name: String, lang: String) -> (page: Page, fallback: Bool)? {
        if let page = pages[name]?[lang] { return (page, false) }
        if let page = pages[name]?["de"] { return (page, lang != "de") }
        return nil
    }
}

/// A small Markdown for the city's own texts, rendered so that nothing in them can become markup:
/// - `# `, `## `, `### ` headings (the first `# ` is the page's title);
/// - `- ` or `* ` list items;
/// - paragraphs, separated by a blank line; a line break inside a paragraph is kept (addresses);
/// - `**strong**` and `[text](target)`, where the target is `https://`, `http://`, `mailto:`, `tel:` or a path of the
///   site (`/…`); any other target (`javascript:`, `data:`) gives the text without a link.
/// Every other character is escaped; raw HTML in the file shows as text.
enum SafeMarkdown {
    static func render(_ text: String) -> (title: String?, html: String) {
        var html = ""
        var title: String?
        var paragraph: [String] = []
        var list: [String] = []
        func flush() {
            if !paragraph.isEmpty {
                html += "<p>" + paragraph.map(inline).joined(separator: "<br>\n") + "</p>\n"
                paragraph = []
            }
            if !list.isEmpty {
                html += "<ul>\n" + list.map { "<li>" + inline($0) + "</li>\n" }.joined() + "</ul>\n"
                list = []
            }
        }
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty {
                flush()
                continue
            }
            if let level = [3, 2, 1].first(where: { line.hasPrefix(String(repeating: "#", count: $0) + " ") }) {
                flush()
                let heading = String(line.dropFirst(level + 1))
                if level == 1 && title == nil { title = heading }
                html += "<h\(level)>" + inline(heading) + "</h\(level)>\n"
            } else if line.hasPrefix("- ") || line.hasPrefix("* ") {
                if !paragraph.isEmpty {
                    let open = list
                    list = []
                    flush()
                    list = open
                }
                list.append(String(line.dropFirst(2)))
            } else {
                if !list.isEmpty {
                    let open = paragraph
                    paragraph = []
                    flush()
                    paragraph = open
                }
                paragraph.append(line)
            }
        }
        flush()
        return (title, html)
    }

    /// Escaped as the templates escape (`CompiledTemplate.writeEscaped`, swift-mustache's rule).
    static func escape(_ s: Substring) -> String {
        var buffer = ByteBuffer()
        CompiledTemplate.writeEscaped(String(s), to: &buffer)
        return String(buffer: buffer)
    }

    static func allowed(_ target: Substring) -> Bool {
        let t = target.lowercased()
        return t.hasPrefix("https://") || t.hasPrefix("http://") || t.hasPrefix("mailto:") || t.hasPrefix("tel:")
            || (t.hasPrefix("/") && !t.hasPrefix("//"))
    }

    /// `**strong**` and `[text](target)` in a line; everything else escaped.
    static func inline(_ line: String) -> String {
        var out = ""
        var rest = Substring(line)
        while !rest.isEmpty {
            if rest.hasPrefix("**"), let end = rest.dropFirst(2).range(of: "**") {
                out += "<strong>" + escape(rest[rest.index(rest.startIndex, offsetBy: 2)..<end.lowerBound]) + "</strong>"
                rest = rest[end.upperBound...]
            } else if rest.hasPrefix("["), let close = rest.range(of: "]("), let end = rest[close.upperBound...].firstIndex(of: ")") {
                let label = rest[rest.index(after: rest.startIndex)..<close.lowerBound]
                let target = rest[close.upperBound..<end]
                out += allowed(target) ? "<a href=\"" + escape(target) + "\">" + escape(label) + "</a>" : escape(label)
                rest = rest[rest.index(after: end)...]
            } else {
                out += escape(rest.prefix(1))
                rest = rest.dropFirst()
            }
        }
        return out
    }
}

extension MotoristController {
    func registerLegalPages(on router: Router<LotseContext>, pages: LegalPages) {
        for name in LegalPages.names {
            router.get(RouterPath("/" + name)) { req, _ in try legalPage(req, name: name, pages: pages) }
        }
    }

    func legalPage(_ req: Request, name: String, pages: LegalPages) throws -> HTML {
        let (lang, remember) = language(req)
        guard let (page, fallback) = pages.page(name, lang: lang) else { return try notFound(req) }
        var ctx = base(lang, path: req.uri.path)
        ctx["title"] = page.title
        ctx["legal"] = page.html
        if fallback { ctx["fallback"] = env.translations.text("legal_only_german", lang) }
        return try render("legal", ctx, lang: lang, remember: remember)
    }
}
