import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LotseCore
import LotseImport
import LotsePayments
@_spi(Testing) import LotseStorage
import LotseTestSupport
import LotseWeb
import Testing

/// A data directory with the sample exports imported, and the real application on loopback.
struct WebFixture {
    let dir: String
    let config: LotseConfig
    let store: Store
    let env: WebEnvironment

    /// `paypal`: PayPal configured (the button shows; its API address answers nothing).
    init(
        baseURL: String = "http://127.0.0.1:8080",
        payee: Bool = true,
        extraCSV: String? = nil,
        officeToken: String? = nil,
        paypal: Bool = false,
        configure: (inout LotseConfig) -> Void = { _ in }
    ) async throws {
        dir = TestSupport.tempDir("lotse-web")
        var c = try LotseConfig(environment: [:])
        c.dataDir = dir
        c.resourceRoot = TestSupport.root
        c.publicBaseURL = baseURL
        c.officeToken = officeToken
        if paypal {
            c.paypalClientID = "test"
            c.paypalClientSecret = "test"
            c.paypalAPIBase = "http://127.0.0.1:9"
        }
        if payee {
            c.payeeName = "Stadtkasse Test"
            c.payeeIBAN = "DE89 3704 0044 0532 0130 00"
            c.payeeBIC = "COBADEFFXXX"
        }
        configure(&c)
        config = c
        store = try Store(config: c)
        let importer = Importer(store: store, config: c, catalogue: try Catalogue(contentsOf: TestSupport.cataloguePath))
        _ = try importer.importFile(TestSupport.pilotData + "/samples/handheld-HH-07-2026-03-14.csv")
        if let extra = extraCSV {
            let p = dir + "/extra.csv"
            TestSupport.write(p, extra)
            _ = try importer.importFile(p)
        }
        env = try await WebEnvironment(config: c, store: store, providers: [try PayPalProvider.configured(by: c, store: store)].compactMap { $0 })
    }

    func token(_ number: String) throws -> String {
        let id = try store.read { try CaseQueries.byNumber($0, number)!.id }
        return env.tokens.token(caseID: id)
    }

    func test(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = buildApplication(environment: env, host: "127.0.0.1", port: 0)
        try await app.test(.live, body)
    }

    func events(_ kind: String) throws -> [String?] {
        try store.read { try String?.fetchAll($0, sql: "SELECT detail FROM events WHERE kind = ? ORDER BY id", arguments: [kind]) }
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }
}

func cookieHeader(_ response: TestResponse, _ name: String) -> String? {
    for f in response.headers where f.name == .setCookie && f.value.hasPrefix(name + "=") {
        return String(f.value.split(separator: ";")[0])
    }
    return nil
}

@Suite struct CasePageTests {
    @Test func germanByDefaultWithTheCaseFacts() async throws {
        let f = try await WebFixture()
        let token = try f.token("KL-2026-0000001")
        try await f.test { client in
            let r = try await client.execute(uri: "/T/\(token)", method: .get)
            #expect(r.status == .ok)
            let html = r.text
            #expect(html.contains("<html lang=\"de\">"))
            #expect(html.contains("KL-2026-0000001"))
            #expect(html.contains("35,00\u{00A0}€"))
            #expect(html.contains("14.03.2026, 07:00"))
            #expect(html.contains("Eisenbahnstraße 41, Ladezone, 67655 Kaiserslautern"))
            #expect(html.contains("KL-AB 1**"))
            #expect(!html.contains("KL-AB 123"))
            #expect(html.contains("21.03.2026"))
            #expect(html.contains("DE89 3704 0044 0532 0130 00"))
            #expect(html.contains("RF71 KL20 2600 0000 1"))
            #expect(html.contains("Online-Zahlung ist derzeit nicht verfügbar"))  // no PayPal configured
            #expect(!html.contains("Mit PayPal bezahlen"))
            #expect(html.contains("Stadtkasse im Rathaus"))
            #expect(!html.contains("<script"))
        }
    }

    @Test func acceptLanguageQueryAndCookieChooseTheLanguage() async throws {
        let f = try await WebFixture()
        let token = try f.token("KL-2026-0000001")
        try await f.test { client in
            let en = try await client.execute(uri: "/T/\(token)", method: .get, headers: [.acceptLanguage: "en-GB,en;q=0.9,de;q=0.5"])
            #expect(en.text.contains("<html lang=\"en\">"))
            #expect(en.text.contains("€35.00"))
            #expect(en.text.contains("21 March 2026"))
            #expect(en.text.contains("href=\"/T/\(token)?lang=de\""))
            let pref = try await client.execute(uri: "/T/\(token)", method: .get, headers: [.acceptLanguage: "es-ES,de;q=0.8,en;q=0.5"])
            #expect(pref.text.contains("<html lang=\"de\">"))
            // ?lang= wins and is remembered in a cookie
            let chosen = try await client.execute(uri: "/T/\(token)?lang=en", method: .get, headers: [.acceptLanguage: "de"])
            #expect(chosen.text.contains("<html lang=\"en\">"))
            let cookie = try #require(cookieHeader(chosen, "lotse_lang"))
            #expect(cookie == "lotse_lang=en")
            let later = try await client.execute(uri: "/T/\(token)", method: .get, headers: [.acceptLanguage: "de", .cookie: cookie])
            #expect(later.text.contains("<html lang=\"en\">"))
            // lower-case route and token (some scanners lower-case URLs)
            let lower = try await client.execute(uri: "/t/\(token.lowercased())", method: .get)
            #expect(lower.status == .ok && lower.text.contains("KL-2026-0000001"))
        }
    }

    @Test func forgedAndUnknownTokensGetTheSame404() async throws {
        let f = try await WebFixture()
        var chars = Array(try f.token("KL-2026-0000001"))
        chars[20] = chars[20] == "A" ? "B" : "A"
        let forged = String(chars)
        let unknownButSigned = f.env.tokens.token(caseID: 999_999)
        try await f.test { client in
            let a = try await client.execute(uri: "/T/\(forged)", method: .get)
            let b = try await client.execute(uri: "/T/\(unknownButSigned)", method: .get)
            let c = try await client.execute(uri: "/T/not-a-token", method: .get)
            #expect(a.status == .notFound && b.status == .notFound && c.status == .notFound)
            #expect(a.text == b.text && b.text == c.text)
            #expect(a.text.contains("Seite nicht gefunden"))
            let en = try await client.execute(uri: "/T/\(forged)", method: .get, headers: [.acceptLanguage: "en"])
            #expect(en.status == .notFound && en.text.contains("Page not found"))
            #expect(!en.text.contains("Error") && !en.text.contains("Swift"))
        }
    }

    @Test func hostileDataIsEscaped() async throws {
        let csv =
            "ticket_no;device_id;issued_at;plate;plate_country;tbnr;street;place_note;city\n"
            + "666;HH-X;2026-03-14T08:00;<script>alert(1)</script>;F;141312;\"Markt\"\"><img src=x onerror=alert(2)>\";note & 'q';Kaiserslautern\n"
        let f = try await WebFixture(extraCSV: csv)
        let number = try f.store.read { try String.fetchOne($0, sql: "SELECT case_number FROM cases WHERE device_id = 'HH-X'")! }
        let token = try f.token(number)
        try await f.test { client in
            let html = try await client.execute(uri: "/T/\(token)", method: .get).text
            #expect(!html.contains("<script>alert"))
            #expect(!html.contains("<img src=x"))
            #expect(html.contains("&lt;img src=x onerror=alert(2)&gt;"))
            #expect(html.contains("&amp; &#39;q&#39;") || html.contains("&amp; &apos;q&apos;") || html.contains("&amp; 'q'"))
            #expect(html.contains("Markt&quot;") || html.contains("Markt&#34;"))
        }
    }

    @Test func securityHeadersOnEveryResponse() async throws {
        let f = try await WebFixture(baseURL: "https://bussgeld.example.de")
        let token = try f.token("KL-2026-0000001")
        try await f.test { client in
            for uri in ["/", "/T/\(token)", "/T/forged", "/verify", "/healthz", "/style.css", "/T/\(token)/girocode.svg"] {
                let r = try await client.execute(uri: uri, method: .get)
                let csp = r.headers[.contentSecurityPolicy] ?? ""
                #expect(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "\(uri)")
                #expect(!csp.contains("unsafe-inline"))
                #expect(r.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff", "\(uri)")
                #expect(r.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer", "\(uri)")
                #expect(r.headers[HTTPField.Name("X-Frame-Options")!] == "DENY", "\(uri)")
                #expect(r.headers[HTTPField.Name("Strict-Transport-Security")!]?.hasPrefix("max-age=") == true, "\(uri)")
            }
        }
        let plain = try await WebFixture()
        try await plain.test { client in
            let r = try await client.execute(uri: "/", method: .get)
            #expect(r.headers[HTTPField.Name("Strict-Transport-Security")!] == nil)
        }
    }
}

@Suite struct LookupTests {
    func csrf(_ client: any TestClientProtocol) async throws -> (cookie: String, value: String) {
        let start = try await client.execute(uri: "/", method: .get)
        let cookie = try #require(cookieHeader(start, "lotse_csrf"))
        return (cookie, String(cookie.dropFirst("lotse_csrf=".count)))
    }

    func post(_ client: any TestClientProtocol, _ form: String, cookie: String?) async throws -> TestResponse {
        var h: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let cookie { h[.cookie] = cookie }
        return try await client.execute(uri: "/lookup", method: .post, headers: h, body: ByteBuffer(string: form))
    }

    @Test func rightPlateRedirectsWrongAnswersTheSame() async throws {
        let f = try await WebFixture()
        let token = try f.token("KL-2026-0000001")
        try await f.test { client in
            let start = try await client.execute(uri: "/", method: .get)
            #expect(start.text.contains("action=\"/lookup\""))
            let (cookie, value) = try await csrf(client)
            // plate typed differently: spaces, hyphens, case do not matter
            let ok = try await post(client, "csrf=\(value)&case_number=KL-2026-0000001&plate=kl+ab123", cookie: cookie)
            #expect(ok.status == .seeOther)
            #expect(ok.headers[.location] == "/T/\(token)?lang=de")
            let compact = try await post(client, "csrf=\(value)&case_number=kl20260000001&plate=KL-AB-123", cookie: cookie)
            #expect(compact.status == .seeOther)
            let wrongPlate = try await post(client, "csrf=\(value)&case_number=KL-2026-0000001&plate=KL-AB+124", cookie: cookie)
            let wrongNumber = try await post(client, "csrf=\(value)&case_number=KL-2026-0000999&plate=KL-AB+123", cookie: cookie)
            #expect(wrongPlate.status == .ok && wrongNumber.status == .ok)
            #expect(wrongPlate.text.contains("keine Verwarnung mit diesen Angaben"))
            #expect(wrongNumber.text.contains("keine Verwarnung mit diesen Angaben"))
            #expect(
                wrongPlate.text.replacingOccurrences(of: "KL-2026-0000001", with: "N")
                    == wrongNumber.text.replacingOccurrences(of: "KL-2026-0000999", with: "N")
            )
        }
    }

    /// Issue 16: a cancelled case is found by the lookup and its page asks for nothing (no amount, no deadline);
    /// the site's name is in a page's title once.
    @Test func aCancelledCaseIsFoundAndAsksForNothing() async throws {
        let f = try await WebFixture()
        let token = try f.token("KL-2026-0000001")
        _ = try f.store.cancelCase(number: "KL-2026-0000001", reason: "Parkausweis nachgereicht", at: 1)
        try await f.test { client in
            let start = try await client.execute(uri: "/", method: .get)
            #expect(start.text.contains("<title>Bezahllotse Kaiserslautern</title>"))
            let (cookie, value) = try await csrf(client)
            let found = try await post(client, "csrf=\(value)&case_number=KL-2026-0000001&plate=KL-AB+123", cookie: cookie)
            #expect(found.status == .seeOther && found.headers[.location] == "/T/\(token)?lang=de")
            let page = try await client.execute(uri: "/T/\(token)", method: .get)
            #expect(page.text.contains("aufgehoben") && page.text.contains("<title>KL-2026-0000001 – Bezahllotse Kaiserslautern</title>"))
            #expect(!page.text.contains("Zahlen bis") && !page.text.contains("class=\"amount\"") && !page.text.contains("IBAN"))
        }
    }

    /// Issue 16: a favicon; static files are cached a day and carry an ETag (a second request with it gets 304).
    @Test func staticFilesHaveAFaviconCachingAndETags() async throws {
        let f = try await WebFixture()
        try await f.test { client in
            let icon = try await client.execute(uri: "/favicon.ico", method: .get)
            #expect(icon.status == .ok && icon.body.readableBytes > 100)
            let css = try await client.execute(uri: "/style.css", method: .get)
            #expect(css.headers[.cacheControl]?.contains("max-age=86400") == true)
            let etag = try #require(css.headers[.eTag])
            let again = try await client.execute(uri: "/style.css", method: .get, headers: [.ifNoneMatch: etag])
            #expect(again.status == .notModified)
            #expect(try await client.execute(uri: "/", method: .get).text.contains("rel=\"icon\""))
        }
    }

    @Test func lookupNeedsTheCSRFTokenAndIsRateLimited() async throws {
        let f = try await WebFixture()
        try await f.test { client in
            let noCookie = try await post(client, "csrf=0123456789abcdef0123456789abcdef&case_number=X&plate=Y", cookie: nil)
            #expect(noCookie.status == .forbidden)
            let (cookie, value) = try await csrf(client)
            let mismatch = try await post(client, "csrf=ffffffffffffffffffffffffffffffff&case_number=X&plate=Y", cookie: cookie)
            #expect(mismatch.status == .forbidden)
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<12 {
                statuses.append(try await post(client, "csrf=\(value)&case_number=KL-2026-0000001&plate=WRONG+1", cookie: cookie).status)
            }
            #expect(statuses.prefix(10).allSatisfy { $0 == .ok })
            #expect(statuses.last == .tooManyRequests)
        }
    }
}

@Suite struct GiroCodeAndPagesTests {
    @Test func giroCodeDecodesToAValidTransfer() async throws {
        let f = try await WebFixture()
        let token = try f.token("KL-2026-0000002")
        let path = f.dir + "/girocode.png"
        try await f.test { client in
            let png = try await client.execute(uri: "/T/\(token)/girocode.png", method: .get)
            #expect(png.status == .ok && png.headers[.contentType] == "image/png")
            var body = png.body
            TestSupport.write(path, bytes: body.readBytes(length: body.readableBytes)!)
            let svg = try await client.execute(uri: "/T/\(token)/girocode.svg", method: .get)
            #expect(svg.headers[.contentType] == "image/svg+xml" && svg.text.contains("<path"))
        }
        let decoded = try #require(try TestSupport.zbarimg(path).first)
        #expect(decoded.utf8.count <= 331)
        let lines = decoded.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "BCD" && lines[1] == "002" && lines[2] == "1" && lines[3] == "SCT")
        #expect(lines[4] == "COBADEFFXXX")
        #expect(lines[6] == "DE89370400440532013000" && IBAN.isValid(lines[6]))
        let amount = try f.store.read { try Int.fetchOne($0, sql: "SELECT amount_cents FROM cases WHERE case_number = 'KL-2026-0000002'")! }
        #expect(lines[7] == "EUR" + Money.plain(amount))
        #expect(RFReference.isValid(lines[9]) && RFReference.body(lines[9]) == "KL20260000002")
        #expect(!decoded.hasSuffix("\n"))
    }

    @Test func withoutPayeeThereIsNoGiroCode() async throws {
        let f = try await WebFixture(payee: false)
        let token = try f.token("KL-2026-0000001")
        try await f.test { client in
            #expect(try await client.execute(uri: "/T/\(token)/girocode.svg", method: .get).status == .notFound)
            let html = try await client.execute(uri: "/T/\(token)", method: .get).text
            #expect(!html.contains("girocode") && html.contains("Stadtkasse im Rathaus"))
        }
    }

    @Test func verifyHealthAndMetrics() async throws {
        let f = try await WebFixture(baseURL: "https://bussgeld.kaiserslautern.de")
        try await f.test { client in
            let v = try await client.execute(uri: "/verify?lang=en", method: .get)
            #expect(v.text.contains("https://bussgeld.kaiserslautern.de") && v.text.contains("Is my ticket genuine?"))
            let h = try await client.execute(uri: "/healthz", method: .get)
            #expect(h.status == .ok && h.text == "ok\n")
            _ = try await client.execute(uri: "/", method: .get)
            let m = try await client.execute(uri: "/metrics", method: .get)
            #expect(m.text.contains("hb_requests") || m.text.contains("http_requests"))
            // requests and their latency per route (RequestMetricsMiddleware)
            #expect(m.text.contains("hb_requests{") && m.text.contains("http_route=\"/verify\""))
            #expect(m.text.contains("http_server_request_duration"))
            #expect(m.text.contains("lotse_cases{status=\"open\"} 24"))
        }
    }

    @Test func pageViewsAreRecordedWithoutPersonalData() async throws {
        let f = try await WebFixture()
        let token = try f.token("KL-2026-0000003")
        try await f.test { client in
            _ = try await client.execute(uri: "/T/\(token)", method: .get)
            _ = try await client.execute(uri: "/T/\(token)?lang=en", method: .get)
            _ = try await client.execute(uri: "/T/\(token)", method: .head)
            _ = try await client.execute(uri: "/T/\(token)", method: .get, headers: [.userAgent: "WhatsApp/2.23.20.0"])
            _ = try await client.execute(uri: "/T/\(token)", method: .get, headers: [.userAgent: "facebookexternalhit/1.1"])
        }
        f.env.recorder.flush()
        #expect(try f.events("page_viewed") == ["lang=de", "lang=en"])
        let columns = try f.store.read { try Row.fetchAll($0, sql: "PRAGMA table_info(events)").map { $0["name"] as String } }
        #expect(Set(columns) == ["id", "case_id", "kind", "at", "detail"])
    }
}
