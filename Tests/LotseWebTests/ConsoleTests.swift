import Foundation
import GRDB
import LotseCore
import LotseHTTP
import LotseOffice
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

@testable import LotseWeb

/// The real `lotse serve` with the sample tickets imported and three users: `olga` (office), `eva` (evaluator) and
/// `ada` (admin, with a second factor).
final class ConsoleHarness: @unchecked Sendable {
    let dir = TestSupport.tempDir("lotse-console")
    let port = TestSupport.freePort()
    var serve: Process!
    var env: [String: String] = [:]
    let http = CurlClient(connectTimeout: 2, timeout: 20)
    var base: String { "http://127.0.0.1:\(port)" }
    static let password = "Sonnenblumenfeld-42"

    init() throws {
        env = ["LOTSE_DATA_DIR": dir, "LOTSE_PILOT_DATA": TestSupport.pilotData, "LOTSE_PUBLIC_BASE_URL": "http://127.0.0.1:\(port)"]
        let imported = try TestSupport.lotse(["import", TestSupport.pilotData + "/samples/handheld-HH-07-2026-03-14.csv"], dataDir: dir, env: env)
        guard imported.status == 0 else { throw Failure("import: \(imported.stderr)") }
        for (name, role) in [("olga", "office"), ("eva", "evaluator"), ("ada", "admin")] {
            let r = try users(["add", name, "--role", role, "--password-stdin"], stdin: Self.password)
            guard r.status == 0 else { throw Failure("users add: \(r.stderr)") }
        }
        serve = try TestSupport.startServer(TestSupport.lotse, ["serve", "--port", String(port)], env: env, log: dir + "/serve.log")
        try TestSupport.waitForOK(base + "/healthz", client: http, logs: dir)
    }

    deinit { TestSupport.stop([serve]) }

    typealias Failure = TestSupport.StartFailure

    /// `lotse users …` with `stdin` on standard input.
    func users(_ args: [String], stdin: String) throws -> TestSupport.Output {
        try TestSupport.lotse(["users"] + args, env: env, stdin: stdin)
    }

    func store() throws -> Store { try Store(path: dir + "/lotse.sqlite") }

    /// The case page token of a case (from the manifest of `lotse qr`).
    func token(_ number: String) throws -> String? {
        let out = dir + "/qr-" + number
        guard try TestSupport.lotse(["qr", number, "--out", out], dataDir: dir, env: env).status == 0 else { return nil }
        let manifest = try String(contentsOfFile: out + "/manifest.csv", encoding: .utf8)
        return manifest.split(separator: "\n").dropFirst().first.map { String($0.split(separator: ";")[2].split(separator: "/").last!) }
    }

    /// ada's current code.
    func code(_ user: String) throws -> String {
        let secret = try #require(
            try store().read { try String.fetchOne($0, sql: "SELECT totp_secret FROM users WHERE name = ?", arguments: [user]) }
        )
        return AccountRules.code(secret: secret)
    }

    /// A browser with a cookie jar, signed in as `user` (nil: not signed in).
    func clerk(_ user: String?) async throws -> Clerk {
        let c = Clerk(http, base: base)
        _ = try await c.get("/office/login")
        if let user {
            let r = try await c.post("/office/login", ["user": user, "password": Self.password, "otp": user == "ada" ? try code(user) : ""])
            #expect(r.status == 303, "sign-in of \(user): \(r.status) \(r.text)")
        }
        return c
    }
}

/// A browser: a cookie jar, no automatic redirects.
final class Clerk: @unchecked Sendable {
    let http: CurlClient
    let base: String
    var cookies: [String: String] = [:]
    init(_ http: CurlClient, base: String) {
        self.http = http
        self.base = base
    }

    var csrf: String { cookies["lotse_csrf"] ?? "" }

    func send(_ method: String, _ path: String, body: [UInt8]? = nil, type: String? = nil) async throws -> OutboundReply {
        var headers: [(String, String)] = []
        if !cookies.isEmpty { headers.append(("Cookie", cookies.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "; "))) }
        if let type { headers.append(("Content-Type", type)) }
        let r = try await http.send(OutboundRequest(method: method, url: base + path, headers: headers, body: body))
        for line in (r.headers["set-cookie"] ?? "").split(separator: "\n") {
            let kv = line.split(separator: ";")[0].split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { continue }
            let name = String(kv[0]).trimmingCharacters(in: .whitespaces)
            if line.contains("Expires=Thu, 01 Jan 1970") || line.lowercased().contains("max-age=0") || String(kv[1]).isEmpty {
                cookies[name] = nil
            } else {
                cookies[name] = String(kv[1])
            }
        }
        return r
    }

    func get(_ path: String) async throws -> OutboundReply { try await send("GET", path) }

    /// A form post; the CSRF token from the cookie unless `csrf` says otherwise.
    func post(_ path: String, _ form: [String: String] = [:], csrf: String? = nil) async throws -> OutboundReply {
        var fields = form
        fields["csrf"] = csrf ?? self.csrf
        let body = fields.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }.joined(separator: "&")
        return try await send("POST", path, body: Array(body.utf8), type: "application/x-www-form-urlencoded")
    }

    /// The page of the job an upload answered with (303), once the job is done: its text.
    func finished(_ upload: OutboundReply) async throws -> String {
        #expect(upload.status == 303, "upload: \(upload.status) \(upload.text.prefix(300))")
        let job = try #require(upload.headers["location"])
        for _ in 0..<600 {  // up to a minute: the parallel tests' load slows imports
            let page = try await get(job)
            if !page.text.contains("http-equiv=\"refresh\"") { return page.text }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        return "the job did not finish"
    }

    /// A multipart upload of `files` in the field `file`, with the CSRF token in the action's query.
    func upload(_ path: String, files: [(name: String, bytes: [UInt8])]) async throws -> OutboundReply {
        let boundary = "----lotse" + UUID().uuidString
        var body = [UInt8]()
        for f in files {
            body += Array(
                "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(f.name)\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                    .utf8
            )
            body += f.bytes + Array("\r\n".utf8)
        }
        body += Array("--\(boundary)--\r\n".utf8)
        return try await send("POST", path + "?csrf=" + csrf, body: body, type: "multipart/form-data; boundary=\(boundary)")
    }
}

@Suite(.serialized) struct ConsoleTests {
    /// Every route of the console: nothing without a session (a page goes to the sign-in, an action is refused), 403
    /// for a role the route is not for, and every action refused without the form's CSRF token.
    @Test func everyRouteNeedsASessionOfTheRightRoleAndEveryFormItsToken() async throws {
        let h = try ConsoleHarness()
        let anonymous = try await h.clerk(nil)
        let evaluator = try await h.clerk("eva")
        let office = try await h.clerk("olga")
        let admin = try await h.clerk("ada")
        func concrete(_ path: String) -> String {
            path.replacingOccurrences(of: "{number}", with: "KL-2026-0000001").replacingOccurrences(of: "{id}", with: "1")
                .replacingOccurrences(of: "{file}", with: "reminders-2026-01-01.csv").replacingOccurrences(of: "{name}", with: "nobody")
                .replacingOccurrences(of: "{n}", with: "0")
        }
        for route in ConsoleController.routes {
            let path = concrete(route.path)
            let method = route.method.rawValue
            let none = try await anonymous.send(method, path)
            if method == "GET" {
                #expect(
                    none.status == 303 && (none.headers["location"] ?? "").hasPrefix("/office/login"),
                    "\(method) \(path) without a session: \(none.status)"
                )
            } else {
                #expect(none.status == 401, "\(method) \(path) without a session: \(none.status)")
            }
            let wrongRole = try await evaluator.send(method, path)
            #expect(wrongRole.status == 403, "\(method) \(path) as an evaluator: \(wrongRole.status)")
            if !route.roles.contains(.office) {
                #expect(try await office.send(method, path).status == 403, "\(method) \(path) as office")
            }
            let allowed = route.roles.contains(.office) ? office : admin
            if method == "POST" {
                let forged = try await allowed.post(path, ["reason": "x", "case_number": "KL-2026-0000001"], csrf: String(repeating: "0", count: 32))
                #expect(forged.status == 403, "\(method) \(path) without the CSRF token: \(forged.status)")
            } else if !path.contains("reminders-") {
                let page = try await allowed.get(path)
                // a job that does not exist is not found
                let missing = path.hasPrefix("/office/jobs/") || path.contains("/files/") || path.contains("/photos/")
                #expect(page.status == (missing ? 404 : 200), "\(method) \(path): \(page.status)")
                #expect(page.headers["content-security-policy"] != nil && (missing || page.headers["cache-control"] == "no-store"))
            }
        }
        // the list of routes is the list the server has: a path outside it is not found, not open
        #expect(try await office.get("/office/secret-page").status == 404)
    }

    /// Sessions: HttpOnly and SameSite=Strict cookies; a new session id at sign-in; sign-out ends the session on the
    /// server (the old cookie is dead); idle time and a password reset or disabling end sessions; wrong passwords lock
    /// the account with a plain message.
    @Test func sessionsEndWhenTheyShould() async throws {
        let h = try ConsoleHarness()
        let c = Clerk(h.http, base: h.base)
        _ = try await c.get("/office/login")
        c.cookies["lotse_session"] = "planted-by-an-attacker"
        let signIn = try await c.post("/office/login", ["user": "olga", "password": ConsoleHarness.password])
        let cookie = try #require(signIn.headers["set-cookie"]?.split(separator: "\n").first { $0.hasPrefix("lotse_session=") })
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
        #expect(c.cookies["lotse_session"] != "planted-by-an-attacker")
        #expect(try await c.get("/office").status == 200)
        // sign-out: the cookie sent again afterwards opens nothing
        let session = try #require(c.cookies["lotse_session"])
        _ = try await c.post("/office/logout")
        c.cookies["lotse_session"] = session
        #expect(try await c.get("/office").status == 303)

        // idle for more than 30 minutes (the session's last request moved back on the server)
        let idle = try await h.clerk("olga")
        let store = try h.store()
        try store.write { db in
            let rows = try Row.fetchAll(db, sql: "SELECT key, value FROM kv_store WHERE key LIKE 'session.%'")
            for row in rows {
                var s = try JSONDecoder().decode(ConsoleSession.self, from: row["value"] as Data)
                s.lastSeen -= 31 * 60
                s.startedAtMillis -= 31 * 60 * 1000
                try db.execute(sql: "UPDATE kv_store SET value = ? WHERE key = ?", arguments: [try JSONEncoder().encode(s), row["key"] as String])
            }
        }
        #expect(try await idle.get("/office").status == 303)
        // busy, but signed in more than 8 hours ago
        let long = try await h.clerk("olga")
        try store.write { db in
            let rows = try Row.fetchAll(db, sql: "SELECT key, value FROM kv_store WHERE key LIKE 'session.%'")
            for row in rows {
                var s = try JSONDecoder().decode(ConsoleSession.self, from: row["value"] as Data)
                s.startedAtMillis -= 9 * 3600 * 1000
                try db.execute(sql: "UPDATE kv_store SET value = ? WHERE key = ?", arguments: [try JSONEncoder().encode(s), row["key"] as String])
            }
        }
        #expect(try await long.get("/office").status == 303)

        // a new password ends every session of the user; so does disabling
        let first = try await h.clerk("olga")
        #expect(try await first.get("/office").status == 200)
        let newPassword = "Gewitterwolke-im-Mai-7"
        #expect(try h.users(["reset", "olga", "--password-stdin"], stdin: newPassword).status == 0)
        #expect(try await first.get("/office").status == 303)
        let second = Clerk(h.http, base: h.base)
        _ = try await second.get("/office/login")
        #expect(try await second.post("/office/login", ["user": "olga", "password": newPassword]).status == 303)
        #expect(try h.users(["disable", "olga"], stdin: "").status == 0)
        #expect(try await second.get("/office").status == 303)

        // the admin needs the second factor
        let noCode = Clerk(h.http, base: h.base)
        _ = try await noCode.get("/office/login")
        #expect(try await noCode.post("/office/login", ["user": "ada", "password": ConsoleHarness.password]).status == 401)
        // wrong passwords: after five the account is locked, the right password too is refused, plainly
        let guesser = Clerk(h.http, base: h.base)
        _ = try await guesser.get("/office/login")
        var last = 0
        for i in 0..<6 {
            last = try await guesser.post("/office/login", ["user": "eva", "password": "wrong-\(i)-password"]).status
        }
        #expect(last == 429 || last == 401)
        let locked = try await guesser.post("/office/login", ["user": "eva", "password": ConsoleHarness.password])
        #expect(locked.status == 429 && (locked.text.contains("gesperrt") || locked.text.contains("Fehlversuche")), "\(locked.status)")
    }

    /// A clerk's day through the console: import a handheld export, reconcile a camt file, assign an unmatched transfer,
    /// correct a plate, book cash, cancel a case, run the dunning and download the list; the audit log shows each step
    /// with the clerk's name, and its chain is intact.
    @Test func aClerksDay() async throws {
        let h = try ConsoleHarness()
        let c = try await h.clerk("olga")
        let export = Array(
            "ticket_no;device_id;issued_at;plate;tbnr;street;city;qr_printed\n901;HH-09;2026-03-16T10:00;KL-ZZ 901;141312;Markt;Kaiserslautern;1\n902;HH-09;2026-03-16T10:05;KL-ZZ 902;141312;Markt;Kaiserslautern;1\n903;HH-09;2026-03-16T10:07;KL-ZZ 903;999999;Markt;Kaiserslautern;1\n"
                .utf8
        )
        let imported = try await c.finished(try await c.upload("/office/imports", files: [("shift-HH09.csv", export)]))
        #expect(imported.contains("imported 2") && imported.contains("rejected 1"), "\(imported)")
        // the rejects as a table, and to download
        let rejects = try #require(
            imported.range(of: #"/office/rejects/[^"]+\.rejects\.csv"#, options: .regularExpression).map { String(imported[$0]) }
        )
        #expect(imported.contains("<td>4</td>"), "the rejected row's line")
        let rejectsFile = try await c.get(rejects)
        #expect(rejectsFile.status == 200 && rejectsFile.text.hasPrefix("line;reason;raw") && rejectsFile.text.contains("999999"))
        let camt = try [UInt8](Data(contentsOf: URL(fileURLWithPath: TestSupport.pilotData + "/samples/camt054-2026-03-20.xml")))
        let reconciled = try await c.finished(try await c.upload("/office/bank-statements", files: [("camt054-2026-03-20.xml", camt)]))
        #expect(reconciled.contains("matched"), "\(reconciled)")
        let unmatched = try await c.get("/office/payments?list=unmatched")
        #expect(unmatched.status == 200)
        let store = try h.store()
        let open = try store.payments(.unmatched)
        let payment = try #require(open.first)
        let assigned = try await c.post("/office/payments/\(payment.id)/assign", ["case_number": "KL-2026-0000020"])
        #expect(assigned.status == 303)
        #expect(try store.payments(.unmatched).count == open.count - 1)
        #expect(
            try await c.post("/office/cases/KL-2026-0000002/correct", ["field": "plate", "value": "KL-AB 999", "reason": "Tippfehler"]).status == 303
        )
        #expect(try await store.caseRecord(number: "KL-2026-0000002")?.plate == "KL-AB 999")
        #expect(try await c.post("/office/cases/KL-2026-0000004/cash", ["amount": "25,00", "receipt": "Q-17"]).status == 303)
        #expect(try await store.caseRecord(number: "KL-2026-0000004")?.status == .paid)
        #expect(try await c.post("/office/cases/KL-2026-0000006/cancel", ["reason": "Halter verstorben"]).status == 303)
        #expect(try await store.caseRecord(number: "KL-2026-0000006")?.status == .cancelled)
        let page = try await c.get("/office/cases/KL-2026-0000002")
        #expect(page.text.contains("KL-AB 999") && page.text.contains("corrected"))
        let search = try await c.get("/office/cases?q=kl-ab999")
        #expect(search.text.contains("KL-2026-0000002"))
        let preview = try await c.get("/office/dunning")
        #expect(preview.text.contains("class=\"list preview\"") && preview.text.contains("KL-2026-0000008"))
        let qr = try await c.get("/office/cases/KL-2026-0000003/qr.png")
        #expect(qr.status == 200 && qr.headers["content-type"] == "image/png")
        TestSupport.write(h.dir + "/case3.png", bytes: qr.body)
        #expect(try TestSupport.zbarimg(h.dir + "/case3.png").first?.uppercased().hasPrefix(h.base.uppercased() + "/T/") == true)
        let letter = try await c.get("/office/cases/KL-2026-0000003/letter")
        #expect(
            letter.status == 200 && letter.text.contains("/office/cases/KL-2026-0000003/qr.png")
                && letter.text.uppercased().contains(h.base.uppercased() + "/T/")
        )
        let run = try await c.post("/office/dunning")
        #expect(run.status == 200 && run.text.contains("Erinnert:"), "\(run.text)")
        let list = try #require(
            run.text.range(of: #"/office/dunning/lists/reminders-[0-9-]+\.csv"#, options: .regularExpression).map { String(run.text[$0]) }
        )
        let download = try await c.get(list)
        let reminded = try store.read { try String.fetchAll($0, sql: "SELECT case_number FROM cases WHERE status = 'reminded'") }
        #expect(download.status == 200 && download.text.hasPrefix("case_number;") && !reminded.isEmpty)
        for number in reminded { #expect(download.text.contains(number)) }
        #expect(!download.text.contains("KL-2026-0000004") && !download.text.contains("KL-2026-0000006"))
        let audit = try await c.get("/office/audit?user=olga")
        for action in [
            "import", "bank_statement", "payment_assigned", "case_corrected", "cash_booked", "case_cancelled", "dunning_run",
            "reminder_list_downloaded",
        ] {
            #expect(audit.text.contains(action), "\(action) missing from the audit log")
        }
        let csv = try await c.get("/office/audit?format=csv")
        #expect(csv.text.hasPrefix("id;time;user;client;action;target;detail;hash") && csv.text.contains("olga"))
        let verify = try TestSupport.lotse(["audit", "verify"], dataDir: h.dir, env: h.env)
        #expect(verify.status == 0 && verify.stdout.contains("intact"), "\(verify.stdout)\(verify.stderr)")
    }

    /// The clerk's day in a real headless Chromium (WebDriver): sign in, import a handheld file, reconcile a camt file,
    /// assign an unmatched transfer, cancel a case, run the dunning and download the list; the audit log shows each step
    /// with the clerk's name. With `LOTSE_SCREENSHOT_DIR` set, the main pages are saved there (docs/screenshots).
    @Test(.enabled(if: WebDriver.available, "chromium and chromedriver are installed by make test"))
    func aClerksDayInABrowser() async throws {
        let h = try ConsoleHarness()
        let browser = try WebDriver(width: 1280, height: 900, log: h.dir + "/chromedriver.log")
        defer { browser.quit() }
        let shots = ProcessInfo.processInfo.environment["LOTSE_SCREENSHOT_DIR"]
        func shot(_ name: String) throws { if let shots { try browser.screenshot(to: shots + "/" + name + ".png") } }
        try browser.go(h.base + "/office/cases")
        #expect(browser.url.contains("/office/login"))
        try shot("office-login")
        try browser.type("#user", "olga")
        try browser.type("#password", ConsoleHarness.password)
        try browser.click("form[action='/office/login'] button")
        #expect(browser.wait { browser.url.hasSuffix("/office/cases") }, "after signing in: \(browser.url)")

        let export = h.dir + "/shift-HH09.csv"
        TestSupport.write(
            export,
            "ticket_no;device_id;issued_at;plate;tbnr;street;city;qr_printed\n901;HH-09;2026-03-16T10:00;KL-ZZ 901;141312;Markt;Kaiserslautern;1\n"
        )
        try browser.go(h.base + "/office/imports")
        try browser.choose("#file", file: export)
        try browser.click("form[enctype='multipart/form-data'] button")
        #expect(browser.wait { browser.source.contains("imported 1") }, "import: \(browser.source.prefix(2000))")

        try browser.go(h.base + "/office/bank-statements")
        try browser.choose("#file", file: TestSupport.pilotData + "/samples/camt054-2026-03-20.xml")
        try browser.click("form[enctype='multipart/form-data'] button")
        #expect(browser.wait { browser.source.contains("matched") })

        let store = try h.store()
        let unmatchedBefore = try store.payments(.unmatched).count
        #expect(unmatchedBefore > 0)
        try browser.go(h.base + "/office/payments?list=unmatched")
        try shot("office-payments")
        try browser.type("input[name='case_number']", "KL-2026-0000020")
        try browser.click("form[action$='/assign'] button")
        #expect(browser.wait { (try? store.payments(.unmatched).count) == unmatchedBefore - 1 })

        try browser.go(h.base + "/office/cases/KL-2026-0000006")
        try browser.type("#reason", "Halter verstorben")
        try browser.click("form[action$='/cancel'] button")
        #expect(browser.wait { browser.source.contains("status-cancelled") })
        try shot("office-case")

        try browser.go(h.base + "/office/dunning")
        try browser.click("form[action='/office/dunning'] button")
        #expect(browser.wait { browser.source.contains("Erinnert:") })
        // clicked from the page's script: a download is no page load for WebDriver to wait for
        try browser.script("document.querySelector(\"a[href^='/office/dunning/lists/']\").click()")
        #expect(
            browser.wait(15) {
                ((try? FileManager.default.contentsOfDirectory(atPath: browser.downloads)) ?? []).contains {
                    $0.hasPrefix("reminders-") && $0.hasSuffix(".csv")
                }
            },
            "the reminder list was not downloaded"
        )
        try shot("office-dunning")

        try browser.go(h.base + "/office/audit?user=olga")
        let audit = browser.source
        for action in ["signed_in", "import", "bank_statement", "payment_assigned", "case_cancelled", "dunning_run", "reminder_list_downloaded"] {
            #expect(audit.contains(action), "\(action) missing from the audit page")
        }
        try shot("office-audit")
        try browser.go(h.base + "/office")
        try shot("office-start")
    }

    /// Evaluators sign in with their accounts and read the statistics; a clerk's session does not open them, and the
    /// statistics' page asks for an account, not a token.
    @Test func evaluatorsSignInWithTheirAccountsAtStats() async throws {
        let h = try ConsoleHarness()
        let anonymous = try await h.clerk(nil)
        let page = try await anonymous.get("/stats")
        #expect(page.status == 401 && page.text.contains("name=\"user\"") && !page.text.contains("name=\"token\""))
        let eva = try await h.clerk(nil)
        let signIn = try await eva.post("/office/login", ["user": "eva", "password": ConsoleHarness.password, "next": "/stats"])
        #expect(signIn.headers["location"] == "/stats")
        #expect(try await eva.get("/stats").status == 200)
        #expect(try await eva.get("/api/v1/stats").status == 200)
        #expect(try await eva.get("/office").status == 403)
        // the dashboard's sign-out ends the account's session
        #expect(try await eva.post("/stats/logout").status == 303)
        #expect(try await eva.get("/stats").status == 401)
        let olga = try await h.clerk("olga")
        #expect(try await olga.get("/stats").status == 401)
        #expect(try await olga.get("/api/v1/stats").status == 401)
        // nowhere else to go after signing in
        let elsewhere = try await h.clerk(nil)
        let r = try await elsewhere.post("/office/login", ["user": "olga", "password": ConsoleHarness.password, "next": "https://evil.example/"])
        #expect(r.headers["location"] == "/office")
    }

    /// Per-user API tokens for scripts: shown once, kept as a hash, good for the APIs of the user's role only, and gone
    /// when revoked or when the user is disabled.
    @Test func apiTokensForScripts() async throws {
        let h = try ConsoleHarness()
        let made = try TestSupport.lotse(["users", "token", "olga"], dataDir: h.dir, env: h.env)
        let token = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(made.status == 0 && token.hasPrefix("lotse_") && token.count > 40)
        let evaToken = try TestSupport.lotse(["users", "token", "eva"], dataDir: h.dir, env: h.env).stdout.trimmingCharacters(
            in: .whitespacesAndNewlines
        )
        func get(_ path: String, _ token: String) async throws -> Int {
            try await h.http.send(OutboundRequest(url: h.base + path, headers: [("Authorization", "Bearer " + token)])).status
        }
        #expect(try await get("/api/v1/payments?list=unmatched", token) == 200)
        #expect(try await get("/api/v1/payments?list=unmatched", evaToken) == 401)
        #expect(try await get("/api/v1/stats", evaToken) == 200)
        #expect(try await get("/api/v1/stats", token) == 401)
        let database =
            try Data(contentsOf: URL(fileURLWithPath: h.dir + "/lotse.sqlite"))
            + ((try? Data(contentsOf: URL(fileURLWithPath: h.dir + "/lotse.sqlite-wal"))) ?? Data())
        #expect(database.range(of: Data(token.utf8)) == nil, "the token is stored in clear")
        #expect(try TestSupport.lotse(["users", "token", "olga", "--revoke"], dataDir: h.dir, env: h.env).status == 0)
        #expect(try await get("/api/v1/payments?list=unmatched", token) == 401)
        #expect(try h.users(["disable", "eva"], stdin: "").status == 0)
        #expect(try await get("/api/v1/stats", evaToken) == 401)
    }

    /// The QR codes of new cases as one ZIP (PNG codes that zbarimg reads, and the manifest); afterwards no case is new.
    @Test func qrCodesAsOneZIP() async throws {
        let h = try ConsoleHarness()
        let c = try await h.clerk("olga")
        let r = try await c.post("/office/qr", ["which": "new", "format": "png"])
        #expect(r.status == 200 && r.headers["content-type"] == "application/zip")
        let zip = h.dir + "/codes.zip"
        TestSupport.write(zip, bytes: r.body)
        let out = h.dir + "/codes"
        let unpacked = try TestSupport.run(
            "/usr/bin/python3",
            ["-c", "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])", zip, out]
        )
        #expect(unpacked.status == 0, "\(unpacked.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: out)
        let pngs = files.filter { $0.hasSuffix(".png") }
        #expect(pngs.count == 24 && files.contains("manifest.csv"), "\(files.sorted())")
        let decoded = try TestSupport.zbarimg(out + "/" + pngs.sorted()[0])
        // the URL in capitals: the QR code's alphanumeric mode (smaller codes)
        #expect(decoded.first?.uppercased().hasPrefix(h.base.uppercased() + "/T/") == true, "\(decoded)")
        let again = try await c.get("/office/qr")
        #expect(again.text.contains("0 Verfahren ohne geschriebenen Code"))
    }

    /// An admin manages accounts in the console: a new user (the password rules apply), a new password for another
    /// (which ends that user's sessions), disabling and enabling.
    @Test func adminsManageAccountsInTheConsole() async throws {
        let h = try ConsoleHarness()
        let ada = try await h.clerk("ada")
        let weak = try await ada.post("/office/users", ["name": "karl", "role": "office", "password": "passwort2026!"])
        #expect(weak.status == 200 && weak.text.contains("Passwort:"))
        let added = try await ada.post("/office/users", ["name": "karl", "role": "office", "password": "Mondlicht-ueber-Pfalz-9"])
        #expect(added.status == 200 && added.text.contains("karl"))
        let olga = try await h.clerk("olga")
        #expect(try await olga.get("/office").status == 200)
        #expect(try await ada.post("/office/users/olga/reset", ["password": "Herbstlaub-am-Rathaus-3"]).status == 200)
        #expect(try await olga.get("/office").status == 303)
        #expect(try await ada.post("/office/users/karl/disable").status == 303)
        #expect(try await h.store().user(name: "karl")?.disabled == true)
        #expect(try await ada.post("/office/users/karl/enable").status == 303)
        #expect(try await h.store().user(name: "karl")?.disabled == false)
        // a second factor for a user who had none (or in place of a lost phone's), shown once; it ends her sessions
        let olgaAgain = Clerk(h.http, base: h.base)
        _ = try await olgaAgain.get("/office/login")
        #expect(try await olgaAgain.post("/office/login", ["user": "olga", "password": "Herbstlaub-am-Rathaus-3"]).status == 303)
        let factor = try await ada.post("/office/users/olga/totp")
        #expect(factor.status == 200 && factor.text.contains("otpauth://totp/"), "\(factor.status)")
        let secret = try #require(try await h.store().user(name: "olga")?.totpSecret)
        #expect(try await olgaAgain.get("/office").status == 303)
        let withoutCode = Clerk(h.http, base: h.base)
        _ = try await withoutCode.get("/office/login")
        #expect(try await withoutCode.post("/office/login", ["user": "olga", "password": "Herbstlaub-am-Rathaus-3"]).status == 401)
        let withCode = Clerk(h.http, base: h.base)
        _ = try await withCode.get("/office/login")
        let signedIn = try await withCode.post(
            "/office/login",
            ["user": "olga", "password": "Herbstlaub-am-Rathaus-3", "otp": AccountRules.code(secret: secret)]
        )
        #expect(signedIn.status == 303)
        // not for an admin, herself included: that is done on the server
        let adaSecret = try await h.store().user(name: "ada")?.totpSecret
        let refused = try await ada.post("/office/users/ada/totp")
        #expect(refused.status == 200 && refused.text.contains("lotse users totp ada") && !refused.text.contains("otpauth://"))
        #expect(try await h.store().user(name: "ada")?.totpSecret == adaSecret)
        #expect(try await ada.get("/office/users").status == 200)
        let audit = try await ada.get("/office/audit?user=ada")
        for action in ["user_added", "password_reset", "user_disabled", "user_enabled", "second_factor_set"] {
            #expect(audit.text.contains(action))
        }
    }

    /// `lotse users totp`: a second factor for an existing user, shown once; `--remove` takes it away, never an admin's.
    @Test func aSecondFactorForAnExistingUserFromTheCommandLine() async throws {
        let h = try ConsoleHarness()
        let eva = try await h.clerk("eva")
        #expect(try await eva.get("/stats").status == 200)
        let given = try h.users(["totp", "eva"], stdin: "")
        #expect(given.status == 0 && given.stdout.contains("otpauth://totp/"), "\(given.stdout) \(given.stderr)")
        let secret = try #require(try await h.store().user(name: "eva")?.totpSecret)
        #expect(given.stdout.contains(AccountRules.authenticatorURL(secret: secret, user: "eva", issuer: "Lotse Kaiserslautern")), "\(given.stdout)")
        #expect(try await eva.get("/stats").status != 200)  // her session ended
        let noCode = Clerk(h.http, base: h.base)
        _ = try await noCode.get("/office/login")
        #expect(try await noCode.post("/office/login", ["user": "eva", "password": ConsoleHarness.password]).status == 401)
        #expect(try h.users(["list"], stdin: "").stdout.contains("eva\tevaluator\tactive\tpassword+totp"))
        // taken away again; an admin's cannot be
        #expect(try h.users(["totp", "eva", "--remove"], stdin: "").status == 0)
        #expect(try await h.store().user(name: "eva")?.totpSecret == nil)
        let refused = try h.users(["totp", "ada", "--remove"], stdin: "")
        #expect(refused.status != 0 && refused.stderr.contains("admin"), "\(refused.stderr)")
        #expect(try await h.store().user(name: "ada")?.totpSecret != nil)
        #expect(try h.users(["totp", "nobody"], stdin: "").status == 1)
        let audit = try await h.store().auditEntries(target: "eva")
        #expect(Set(audit.map(\.action)).isSuperset(of: ["second_factor_set", "second_factor_removed"]))
    }

    /// German first, English second: the language switch (remembered), and every page's texts from `i18n`.
    @Test func theConsoleSpeaksEnglishToo() async throws {
        let h = try ConsoleHarness()
        let c = try await h.clerk("olga")
        let german = try await c.get("/office")
        #expect(german.text.contains("Abmelden") && german.text.contains("lang=\"de\""))
        let english = try await c.get("/office?lang=en")
        #expect(english.text.contains("Sign out") && english.text.contains("unmatched transfers") && !english.text.contains("Abmelden"))
        for path in [
            "/office/cases", "/office/cases/KL-2026-0000001", "/office/payments", "/office/imports", "/office/dunning", "/office/qr", "/office/audit",
        ] {
            let page = try await c.get(path)  // the language is remembered
            #expect(page.status == 200 && page.headers["content-language"] == "en" && !page.text.contains("{{"), "\(path)")
            #expect(!page.text.contains("Abmelden") && !page.text.contains("Verlauf"), "\(path) is partly German")
        }
    }

    /// A large export is processed off the request: the upload answers at once with its job's page, which shows the
    /// records read while it runs and the summary when it is done.
    @Test func aLargeImportShowsItsProgress() async throws {
        let h = try ConsoleHarness()
        let c = try await h.clerk("olga")
        var csv = "ticket_no;device_id;issued_at;plate;tbnr;street;city;qr_printed\n"
        for i in 0..<20_000 {
            csv += "\(i + 1);HH-L;2026-03-16T10:\(String(format: "%02d", i % 60));KL-L \(i % 9000 + 1);141312;Markt;Kaiserslautern;1\n"
        }
        let upload = try await c.upload("/office/imports", files: [("big.csv", Array(csv.utf8))])
        #expect(upload.status == 303)
        let first = try await c.get(try #require(upload.headers["location"]))
        if first.text.contains("http-equiv=\"refresh\"") {
            #expect(first.text.contains("gelesene Datensätze"))
        }
        let done = try await c.finished(upload)
        #expect(done.contains("imported 20000"), "\(done.prefix(500))")
    }

    /// A broken upload: a boundary the parser cannot take (an empty one made it trap and stopped the server), a body
    /// that is no multipart after a file part (the file stayed on disk), and an office upload that is gone once done.
    @Test func aBrokenUploadNeitherStopsTheServerNorLeavesFiles() async throws {
        let h = try ConsoleHarness()
        let token = try #require(try h.token("KL-2026-0000001"))
        let motorist = Clerk(h.http, base: h.base)
        _ = try await motorist.get("/T/\(token)/statement")
        let action = "/T/\(token)/statement?csrf=" + motorist.csrf
        for type in [
            "multipart/form-data; boundary=\"\"", "multipart/form-data; boundary=\"", "multipart/form-data; boundary=",
            "multipart/form-data; boundary=" + String(repeating: "b", count: 71), "multipart/form-data; boundary=a\u{1}b",
        ] {
            let r = try await motorist.send("POST", action, body: Array("--\r\n".utf8), type: type)
            #expect(r.status == 400, "\(type): \(r.status)")
            #expect(try await h.http.send(OutboundRequest(method: "GET", url: h.base + "/healthz")).status == 200, "after \(type)")
        }
        #expect(ConsoleController.boundary("multipart/form-data; boundary=\"----a'b(c)+_,-./:=?\"") == "----a'b(c)+_,-./:=?")
        // text and ground, then a file part, then a byte where the next boundary's end must be
        let boundary = "----broken"
        var body = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nIch war es nicht.\r\n".utf8)
        body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"ground\"\r\n\r\nnot_driver\r\n".utf8)
        body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"beleg.png\"\r\n\r\n".utf8)
        body += TestSupport.pngWithText + Array("\r\n--\(boundary)Z garbage\r\n".utf8)
        let broken = try await motorist.send("POST", action, body: body, type: "multipart/form-data; boundary=\(boundary)")
        #expect(broken.status == 400, "\(broken.status)")
        let kept = (try? FileManager.default.contentsOfDirectory(atPath: h.dir + "/statements")) ?? []
        #expect(kept.isEmpty, "\(kept)")
        #expect(try await h.store().read { try Int.fetchOne($0, sql: "SELECT count(*) FROM statements") } == 0)
        // an office upload is removed once its job is done
        let c = try await h.clerk("olga")
        let csv = "ticket_no;device_id;issued_at;plate;tbnr;street;city\n9101;HH-07;2026-03-14T08:00;KL-UP 1;141312;Markt;Kaiserslautern\n"
        let upload = try await c.upload("/office/imports", files: [("shift.csv", Array(csv.utf8))])
        #expect(try await c.finished(upload).contains("imported 1"))
        let uploads = (try? FileManager.default.contentsOfDirectory(atPath: h.dir + "/uploads")) ?? []
        #expect(uploads.isEmpty, "\(uploads)")
    }

    /// An export with the warden's photos as one ZIP upload (issue 16): the job names the photos and the one left out,
    /// the case shows them to the office (each view audited) and to the motorist holding the token, and to nobody else.
    @Test func anExportWithItsPhotosAsOneZIPUpload() async throws {
        let h = try ConsoleHarness()
        let c = try await h.clerk("olga")
        let csv = """
            ticket_no;device_id;issued_at;plate;tbnr;street;city;photos
            0008001;HH-09;2026-03-16T10:00;KL-PH 1;141312;Markt;Kaiserslautern;front.jpg|side.png
            0008002;HH-09;2026-03-16T10:05;KL-PH 2;141312;Markt;Kaiserslautern;gone.jpg

            """
        let zip = h.dir + "/shift.zip"
        try TestSupport.zip(zip, [("shift.csv", Array(csv.utf8)), ("front.jpg", TestSupport.jpegWithExif), ("side.png", TestSupport.pngWithText)])
        let bytes = [UInt8](try #require(FileManager.default.contents(atPath: zip)))
        let done = try await c.finished(try await c.upload("/office/imports", files: [("shift.zip", bytes)]))
        #expect(done.contains("shift.zip/shift.csv: imported 2, duplicates 0, rejected 0, photos 2"), "\(done.prefix(800))")
        #expect(
            done.contains("shift.zip/shift.csv:3: photo &#39;gone.jpg&#39; is not in the upload")
                || done.contains("photo 'gone.jpg' is not in the upload"),
            "\(done.prefix(800))"
        )
        let number = try #require(try h.store().read { try String.fetchOne($0, sql: "SELECT case_number FROM cases WHERE ticket_no = '0008001'") })
        let page = try await c.get("/office/cases/" + number)
        #expect(page.text.contains("/office/cases/\(number)/photos/2"), "\(page.text.prefix(2000))")
        let photo = try await c.get("/office/cases/\(number)/photos/1")
        #expect(photo.status == 200 && photo.headers["content-type"] == "image/jpeg")
        #expect(try await c.get("/office/cases/\(number)/photos/3").status == 404)
        #expect(try await h.clerk(nil).get("/office/cases/\(number)/photos/1").status != 200)
        #expect(try await h.clerk("eva").get("/office/cases/\(number)/photos/1").status != 200)
        #expect(
            try h.store().read { try Int.fetchOne($0, sql: "SELECT count(*) FROM audit_log WHERE action = 'photo_viewed'") } == 1
        )
        // the motorist with the case's token sees them on the case page
        let token = try #require(try h.token(number))
        let motorist = try await h.clerk(nil).get("/T/\(token)?lang=en")
        #expect(motorist.text.contains("Photos from the check") && motorist.text.contains("/T/\(token)/photo/2"))
    }

    /// A motorist's statement with evidence holds the case out of the dunning until the office decides it; the
    /// evidence is downloaded, never shown inline; only pictures and PDFs are taken.
    @Test func aStatementHoldsTheCaseUntilTheOfficeDecides() async throws {
        let h = try ConsoleHarness()
        let motorist = Clerk(h.http, base: h.base)
        let token = try #require(try h.token("KL-2026-0000007"))
        let casePage = try await motorist.get("/T/\(token)")
        #expect(casePage.text.contains("/T/\(token)/statement"))
        let form = try await motorist.get("/T/\(token)/statement")
        #expect(form.status == 200 && form.text.contains("enctype=\"multipart/form-data\""))
        // a 1×1 PNG with a text chunk naming its author: stored without it (issue 16)
        let header: [UInt8] = [
            0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01,
            0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89,
        ]
        let rest: [UInt8] = [
            0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A,
            0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
        ]
        let author = Array("Author\u{0}Erika Mustermann".utf8)
        let text: [UInt8] = [0, 0, 0, UInt8(author.count)] + Array("tEXt".utf8) + author + [0, 0, 0, 0]
        let png = header + text + rest
        func send(_ text: String, _ files: [(String, [UInt8])], ground: String? = "valid_ticket") async throws -> OutboundReply {
            let boundary = "----statement" + UUID().uuidString
            var body = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n\(text)\r\n".utf8)
            if let ground { body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"ground\"\r\n\r\n\(ground)\r\n".utf8) }
            for (name, bytes) in files {
                body +=
                    Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(name)\"\r\n\r\n".utf8) + bytes
                    + Array("\r\n".utf8)
            }
            body += Array("--\(boundary)--\r\n".utf8)
            return try await motorist.send(
                "POST",
                "/T/\(token)/statement?csrf=" + motorist.csrf,
                body: body,
                type: "multipart/form-data; boundary=\(boundary)"
            )
        }
        let refused = try await send("Hier ist mein Beleg", [("beleg.html", Array("<script>alert(1)</script>".utf8))])
        #expect(refused.status == 400)
        // a ground must be chosen, one of the four
        for ground in [nil, "because"] as [String?] {
            let without = try await send("Ich war es nicht.", [], ground: ground)
            #expect(without.status == 400 && without.text.contains("Bitte wählen Sie, warum Sie schreiben."))
        }
        let sent = try await send("Ich hatte einen gültigen Parkschein <b>bis 10 Uhr</b>.", [("parkschein.png", png)])
        let confirmation = try #require(sent.headers["location"])
        #expect(sent.status == 303 && confirmation.hasPrefix("/T/\(token)/statement?received="), "\(confirmation)")
        // the confirmation: receipt number, ground, evidence; another case's token does not show it
        let receipt = try await motorist.get(confirmation)
        #expect(receipt.status == 200 && receipt.text.contains("S-000001") && receipt.text.contains("Ich hatte einen gültigen Parkschein"))
        #expect(receipt.text.contains("<dd>1</dd>") && !receipt.text.contains("<textarea"))
        let otherToken = try #require(try h.token("KL-2026-0000008"))
        let foreign = try await motorist.get("/T/\(otherToken)/statement?received=1")
        #expect(!foreign.text.contains("S-000001") && foreign.text.contains("<textarea"))
        let first = try TestSupport.lotse(["dunning", "--as-of", "2026-04-10", "--out", h.dir + "/r1.csv"], dataDir: h.dir, env: h.env)
        let list1 = try String(contentsOfFile: h.dir + "/r1.csv", encoding: .utf8)
        #expect(first.status == 0 && !list1.contains("KL-2026-0000007") && list1.contains("KL-2026-0000008"))
        let olga = try await h.clerk("olga")
        let queue = try await olga.get("/office/statements")
        #expect(queue.text.contains("KL-2026-0000007") && queue.text.contains("&lt;b&gt;bis 10 Uhr&lt;/b&gt;"))
        #expect(queue.text.contains("S-000001") && queue.text.contains("Ich hatte einen gültigen Parkschein oder eine Erlaubnis."))
        let file = try await olga.get("/office/statements/1/files/0")
        #expect(
            file.status == 200 && file.headers["content-type"] == "image/png" && (file.headers["content-disposition"] ?? "").hasPrefix("attachment")
        )
        #expect(Array(file.body) == header + rest, "the photo is kept without its text chunk")
        #expect(try await olga.post("/office/statements/1/decide", ["decision": "reject", "reason": "Parkschein abgelaufen"]).status == 303)
        let second = try TestSupport.lotse(["dunning", "--as-of", "2026-04-11", "--out", h.dir + "/r2.csv"], dataDir: h.dir, env: h.env)
        let list2 = try String(contentsOfFile: h.dir + "/r2.csv", encoding: .utf8)
        #expect(second.status == 0 && list2.contains("KL-2026-0000007"))
        let audit = try await olga.get("/office/audit?action=statement_decided")
        #expect(audit.text.contains("Parkschein abgelaufen"))
    }

    /// The audit chain finds an entry deleted, one altered, and the newest one removed (changes made outside Lotse: the
    /// database refuses them from inside).
    @Test func theAuditChainFindsDeletedAndAlteredEntries() async throws {
        let h = try ConsoleHarness()
        for _ in 0..<3 { _ = try await h.clerk("olga") }
        let store = try h.store()
        #expect(throws: (any Error).self) { try store.write { try $0.execute(sql: "DELETE FROM audit_log WHERE id = 2") } }
        func verify() throws -> TestSupport.Output { try TestSupport.lotse(["audit", "verify"], dataDir: h.dir, env: h.env) }
        #expect(try verify().status == 0)
        h.serve.terminate()
        h.serve.waitUntilExit()
        let copy = h.dir + "/intact.sqlite"
        try DatabaseQueue(path: h.dir + "/lotse.sqlite").inDatabase { try $0.execute(sql: "VACUUM INTO ?", arguments: [copy]) }
        func tamper(_ sql: String) throws -> TestSupport.Output {
            try? FileManager.default.removeItem(atPath: h.dir + "/lotse.sqlite-wal")
            try? FileManager.default.removeItem(atPath: h.dir + "/lotse.sqlite-shm")
            try FileManager.default.removeItem(atPath: h.dir + "/lotse.sqlite")
            try FileManager.default.copyItem(atPath: copy, toPath: h.dir + "/lotse.sqlite")
            let db = try DatabaseQueue(path: h.dir + "/lotse.sqlite")
            try db.write { try $0.execute(sql: "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; " + sql) }
            try db.close()
            return try verify()
        }
        let deleted = try tamper("DELETE FROM audit_log WHERE id = 2")
        #expect(deleted.status != 0 && deleted.stderr.contains("entry 2 is missing"), "\(deleted.stderr)")
        let altered = try tamper("UPDATE audit_log SET user = 'someone else' WHERE id = 3")
        #expect(altered.status != 0 && altered.stderr.contains("altered"), "\(altered.stderr)")
        let newest = try tamper("DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)")
        #expect(newest.status != 0 && newest.stderr.contains("newest entry"), "\(newest.stderr)")
    }
}
