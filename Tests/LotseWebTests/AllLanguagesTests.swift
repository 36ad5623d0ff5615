import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LotseCore
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

@testable import LotseWeb

/// The ten languages of the motorist's pages (issue 16): German, English, Turkish, Arabic (right to left), Ukrainian,
/// Polish, Russian, Romanian, French and German in Leichte Sprache. Each is one file; each has every text of the
/// motorist's pages itself (none falls back to German), and every page renders in each.
@Suite struct AllLanguagesTests {
    static let codes = ["de", "de-x-ls", "en", "ar", "fr", "pl", "ro", "ru", "tr", "uk"]
    static let ownNames = [
        "de": "Deutsch", "de-x-ls": "Leichte Sprache", "en": "English", "ar": "العربية", "fr": "Français", "pl": "Polski",
        "ro": "Română", "ru": "Русский", "tr": "Türkçe", "uk": "Українська",
    ]

    static func placeholders(_ text: String) -> Set<String> {
        var found = Set<String>()
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            found.insert(String(rest[open...close]))
            rest = rest[rest.index(after: close)...]
        }
        return found
    }

    @Test func everyLanguageHasEveryTextOfTheMotoristsPagesItself() throws {
        let t = try Translations(directory: TestSupport.root + "/templates/i18n")
        #expect(t.languages == Self.codes, "German, Leichte Sprache, English, then the others by code")
        let german = try #require(t.ownKeys["de"])
        let motorist = german.filter { !$0.hasPrefix("o_") && !$0.hasPrefix("stats_") }
        #expect(motorist.count > 120)
        for lang in Self.codes {
            let own = try #require(t.ownKeys[lang])
            let missing = motorist.subtracting(own)
            #expect(missing.isEmpty, "\(lang) lacks \(missing.sorted())")
            #expect(t.text("language_name", lang) == Self.ownNames[lang], "the switch names each language in itself")
            for key in motorist where key != "date_format" {
                let text = t.text(key, lang)
                #expect(Self.placeholders(text) == Self.placeholders(t.text(key, "en")), "\(lang) \(key): \(text)")
                #expect(!text.contains("<") && !text.contains("&"), "\(lang) \(key): no markup in a text")
            }
            // a date in the language's own form, with its month names
            #expect(!t.date(CivilDate(year: 2026, month: 3, day: 21), lang).contains("{"))
        }
        #expect(t.direction("ar") == "rtl" && Self.codes.filter { t.direction($0) == "rtl" } == ["ar"])
        // the office and the dashboard are offered where all their texts are: German and English
        #expect(t.languages(for: .office) == ["de", "en"] && t.languages(for: .dashboard) == ["de", "en"])
        #expect(t.language("tr", for: .office) == "en" && t.language("de-x-ls", for: .dashboard) == "de")
        #expect(t.language("de", for: .office) == "de")
    }

    /// Every state's sentence in every language carries the amount and the dates the English one carries, in the
    /// language's own form.
    @Test func everyStatesSentenceHasItsDatesInEveryLanguage() async throws {
        let f = try await WebFixture()
        let page = MotoristController(env: f.env)
        let t = f.env.translations
        let open = try #require(try await f.store.caseRecord(number: "KL-2026-0000001"))
        let deadline = try #require(CivilDate(iso: open.deadline))
        var reminded = open
        reminded.status = .reminded
        reminded.remindedAt = BerlinTime.utc(date: deadline.adding(days: 6), hour: 7, minute: 0)
        var partly = open
        partly.receivedCents = 1000
        var paid = open
        paid.status = .paid
        paid.paidAt = BerlinTime.utc(date: deadline.adding(days: -2), hour: 12, minute: 0)
        var overdue = open
        overdue.status = .overdue
        var cancelled = open
        cancelled.status = .cancelled
        var handedOver = open
        handedOver.status = .handedOver
        let states: [(String, CaseRecord, CivilDate)] = [
            ("open", open, deadline.adding(days: -5)), ("due tomorrow", open, deadline.adding(days: -1)), ("due today", open, deadline),
            ("past the deadline", open, deadline.adding(days: 1)), ("overdue", overdue, deadline.adding(days: 3)),
            ("reminded", reminded, deadline.adding(days: 7)), ("partly paid", partly, deadline.adding(days: -3)),
            ("paid", paid, deadline), ("cancelled", cancelled, deadline), ("handed over", handedOver, deadline.adding(days: 40)),
        ]
        let dates = [
            deadline, deadline.adding(days: -2), deadline.adding(days: 6), deadline.adding(days: 6 + f.config.paymentDays),
        ]
        for (name, c, today) in states {
            let english = page.caseValues(c, lang: "en", today: today)[.statusText]
            for lang in Self.codes {
                let text = page.caseValues(c, lang: lang, today: today)[.statusText]
                #expect(!text.isEmpty && Self.placeholders(text).isEmpty, "\(lang) \(name): \(text)")
                for cents in [c.dueCents, c.amountCents, c.receivedCents] where cents > 0 && english.contains(Money.display(cents, language: "en")) {
                    #expect(text.contains(Money.display(cents, language: lang)), "\(lang) \(name): \(text)")
                }
                for date in dates where english.contains(t.date(date, "en")) {
                    #expect(text.contains(t.date(date, lang)), "\(lang) \(name) lacks \(t.date(date, lang)): \(text)")
                }
            }
        }
    }

    /// Every page of the motorist in every language: the start page, a case in each state, the receipt, the statement,
    /// the check of a receipt, the legal pages, an unknown path. No page shows a text's key or an unfilled placeholder.
    @Test func everyPageRendersInEveryLanguage() async throws {
        let f = try await WebFixture(paypal: true)
        try f.store.write { db in
            try db.execute(
                sql: """
                    UPDATE cases SET status = 'cancelled' WHERE case_number = 'KL-2026-0000003';
                    UPDATE cases SET status = 'reminded', reminded_at = 1774000000 WHERE case_number = 'KL-2026-0000004';
                    UPDATE cases SET status = 'handed_over' WHERE case_number = 'KL-2026-0000005';
                    UPDATE cases SET received_cents = 1000 WHERE case_number = 'KL-2026-0000006';
                    """
            )
        }
        let paid = try #require(try await f.store.caseRecord(number: "KL-2026-0000002"))
        _ = try f.store.write { db in
            try Ledger.record(
                db,
                IncomingPayment(
                    channel: .bankTransfer,
                    amountCents: paid.amountCents,
                    paidAt: 1_773_500_000,
                    source: "camt.xml",
                    dedupKey: "camt:test-1",
                    payer: "Erika Mustermann",
                    reference: paid.caseNumber
                ),
                caseID: paid.id
            )
        }
        let tokens = try (1...6).map { try f.token("KL-2026-000000\($0)") }
        let keys = try #require(f.env.translations.ownKeys["de"]).filter { !$0.hasPrefix("o_") && !$0.hasPrefix("stats_") }
        var paths = ["/", "/verify", "/verify?code=ABCD-EFGH-JKLM", "/impressum", "/datenschutz", "/barrierefreiheit", "/kontakt"]
        paths += tokens.map { "/T/\($0)" } + ["/T/\(tokens[1])/receipt", "/T/\(tokens[0])/statement"]
        let pages = paths + ["/no/such/page"]
        try await f.test { client in
            var german: [String: String] = [:]
            for lang in Self.codes {
                for path in pages {
                    let uri = path + (path.contains("?") ? "&" : "?") + "lang=" + lang
                    let r = try await client.execute(uri: uri, method: .get, headers: [.acceptEncoding: "identity"])
                    #expect(r.status == (path == "/no/such/page" ? .notFound : .ok), "\(uri)")
                    let html = r.text
                    #expect(html.contains("<html lang=\"\(lang)\"\(lang == "ar" ? " dir=\"rtl\"" : "")>"), "\(uri)")
                    if lang == "de" { german[path] = html }
                    // a key shown instead of its text (a key the German page shows is markup, not a missing text)
                    let shown = keys.filter { html.contains($0) && !(german[path]?.contains($0) ?? false) }
                    #expect(shown.isEmpty, "\(uri) shows \(shown.sorted())")
                    let unfilled = Self.placeholders(html).filter { $0.count < 25 && $0.dropFirst().first?.isLowercase == true && !$0.contains(":") }
                    #expect(unfilled.isEmpty, "\(uri): \(unfilled)")
                    // the switch lists the other nine by their own names
                    if path == "/" {
                        for other in Self.codes where other != lang {
                            #expect(html.contains("hreflang=\"\(other)\" lang=\"\(other)\">\(Self.ownNames[other]!)</a>"), "\(uri) \(other)")
                        }
                    }
                }
            }
        }
    }
}
