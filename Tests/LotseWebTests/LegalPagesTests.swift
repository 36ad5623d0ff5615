import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import LotseTestSupport
import Testing

@testable import LotseWeb

/// The legal pages (issue 16): Impressum, Datenschutz, Barrierefreiheit, Kontakt, from `pilot-data/pages/`.
@Suite struct LegalPagesTests {
    @Test func theCitysMarkdownCannotBecomeMarkup() {
        let text = """
            # Impressum <script>alert(1)</script>

            Stadtverwaltung Beispiel
            Markt 1 & Co.

            - [Kontakt](/kontakt) und [Mail](mailto:a@example.org)
            - [böse](javascript:void) [auch](//evil.example) [Bild](data:text/html,x) **fett <b>**
            <img src=x onerror=alert(1)>
            ## Teil "zwei"
            """
        let (title, html) = SafeMarkdown.render(text)
        #expect(title == "Impressum <script>alert(1)</script>")
        #expect(html.contains("<h1>Impressum &lt;script&gt;alert(1)&lt;/script&gt;</h1>"))
        #expect(html.contains("<p>Stadtverwaltung Beispiel<br>\nMarkt 1 &amp; Co.</p>"))
        #expect(html.contains("<li><a href=\"/kontakt\">Kontakt</a> und <a href=\"mailto:a@example.org\">Mail</a></li>"))
        #expect(html.contains("<li>böse auch Bild <strong>fett &lt;b&gt;</strong></li>"))
        #expect(html.contains("<p>&lt;img src=x onerror=alert(1)&gt;</p>"))
        #expect(html.contains("<h2>Teil &quot;zwei&quot;</h2>"))
        #expect(!html.contains("<script") && !html.contains("javascript:") && !html.contains("<img") && !html.contains("//evil"))
    }

    @Test func aPageMissingInALanguageIsShownInGermanWithANote() throws {
        let dir = TestSupport.tempDir("lotse-pages")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        TestSupport.write(dir + "/kontakt.de.md", "# Kontakt\n\nRathaus {city}\n")
        TestSupport.write(dir + "/werbung.de.md", "# Werbung\n")
        let pages = LegalPages(folder: dir, values: ["city": "Musterstadt"], logger: Logger(label: "test"))
        let german = try #require(pages.page("kontakt", lang: "en"))
        #expect(german.fallback && german.page.title == "Kontakt" && german.page.html.contains("Rathaus Musterstadt"))
        #expect(pages.page("kontakt", lang: "de")?.fallback == false)
        #expect(pages.page("impressum", lang: "de") == nil)
        #expect(pages.pages["werbung"] == nil)
    }

    /// Every page in German and English from the shipped example files, marked as examples, linked from every page's
    /// footer; the privacy notice states the retention setting in force.
    @Test func theShippedPagesAreServedAndLinkedFromEveryPage() async throws {
        let f = try await WebFixture()
        try await f.test { client in
            for name in LegalPages.names {
                for (lang, example) in [("de", "Beispieltext"), ("en", "Example text")] {
                    let page = try await client.execute(uri: "/\(name)?lang=\(lang)", method: .get)
                    #expect(page.status == .ok, "\(name) \(lang)")
                    #expect(page.text.contains(example) && page.text.contains("<article class=\"legal\">"), "\(name) \(lang)")
                    #expect(!page.text.contains("{city}") && !page.text.contains("{retention_days}") && !page.text.contains("{base_url}"))
                }
            }
            let privacy = try await client.execute(uri: "/datenschutz?lang=en", method: .get).text
            #expect(privacy.contains("<strong>\(f.config.retentionDays) days</strong>"))
            let impressum = try await client.execute(uri: "/impressum?lang=de", method: .get).text
            #expect(impressum.contains("<title>Impressum – ") && impressum.contains("§ 5 Digitale-Dienste-Gesetz"))
            for path in ["/", "/verify", "/impressum"] {
                let page = try await client.execute(uri: path + "?lang=en", method: .get).text
                for link in ["/impressum", "/datenschutz", "/barrierefreiheit", "/kontakt"] {
                    #expect(page.contains("href=\"\(link)\""), "\(path) does not link \(link)")
                }
            }
        }
    }
}
