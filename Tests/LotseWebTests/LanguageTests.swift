import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LotseTestSupport
import Testing

@testable import LotseWeb

/// Language negotiation: remembered per Accept-Language value, and no header value ends the server.
@Suite struct LanguageTests {
    @Test func aRememberedChoiceIsTheParsedOne() throws {
        let translations = try Translations(directory: TestSupport.root + "/templates/i18n")
        let headers = [
            "de-DE,de;q=0.9,en;q=0.8", "en-GB,en;q=0.9,de;q=0.5", "fr-FR,en;q=0.4,de;q=0.3", "fr", "", ";", "de,;", ";;,,;q=1",
            "en;q=0,de;q=0.1", "EN", "en-us;q=abc",
        ]
        for header in headers {
            let first = translations.negotiate(query: nil, cookie: nil, acceptLanguage: header)
            #expect(first == translations.preferred(acceptLanguage: header), "\(header)")
            #expect(translations.negotiate(query: nil, cookie: nil, acceptLanguage: header) == first, "\(header)")
        }
        #expect(translations.negotiate(query: nil, cookie: nil, acceptLanguage: "en-GB,en;q=0.9,de;q=0.5") == "en")
        #expect(translations.negotiate(query: nil, cookie: nil, acceptLanguage: "es-ES,en;q=0.4,de;q=0.3") == "en")
        #expect(translations.negotiate(query: nil, cookie: nil, acceptLanguage: "fr-FR,en;q=0.4,de;q=0.3") == "fr")
        #expect(translations.negotiate(query: nil, cookie: nil, acceptLanguage: "uk-UA,ru;q=0.8") == "uk")
        #expect(translations.negotiate(query: "de", cookie: nil, acceptLanguage: "en") == "de")
        // bounded: a flood of distinct values never grows the memo past its capacity
        let memo = NegotiatedLanguages(capacity: 8)
        for i in 0..<100 { memo.remember("de", for: "x\(i)") }
        #expect(memo.language(for: "x99") == "de" && memo.language(for: "x0") == nil)
    }

    /// `Accept-Language: de,;` trapped in the parser (an empty tag) and ended the whole server.
    @Test func aHeaderOfSemicolonsIsAnsweredNotACrash() async throws {
        let f = try await WebFixture()
        let token = try f.token("KL-2026-0000001")
        try await f.test { (client: any TestClientProtocol) async throws in
            for header in ["de,;", ";", ";;;", ",;,"] {
                let page = try await client.execute(uri: "/T/\(token)", method: .get, headers: [.acceptLanguage: header])
                #expect(page.status == .ok, "\(header)")
                #expect(try await client.execute(uri: "/", method: .get, headers: [.acceptLanguage: header]).status == .ok)
            }
        }
    }
}
