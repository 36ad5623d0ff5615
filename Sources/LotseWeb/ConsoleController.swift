import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import LotseBank
import LotseCore
import LotseImport
import LotseOffice
import LotsePayments
import LotseQR
import LotseStorage
import LotseTokens
import MultipartKit
import NIOCore
import NIOPosix
import Synchronization

/// The office console (`/office`): the traffic office's work in a browser, in German. Every route but the sign-in
/// needs a session of the right role (`ConsoleAccess` on the route groups); every form carries the CSRF token; every
/// action is written to the audit log with the user's name and the client's address.
struct ConsoleController: Sendable {
    let env: WebEnvironment
    let rules: AccountRules
    /// Failed sign-ins per client (the per-user lock is in the database).
    let signInFailures = FailureThrottle()
    /// Uploads being processed, and the last ones done.
    let jobs = UploadJobs()
    /// The page language (`?lang=`, the cookie, Accept-Language; German first) and its cookie, as the motorist's pages.
    let pages: MotoristController

    init(env: WebEnvironment) {
        self.env = env
        rules = AccountRules(config: env.config)
        pages = MotoristController(env: env)
    }

    /// A text of the console in the request's language.
    func tx(_ key: String, _ req: Request) -> String { env.translations.text(key, pages.language(req, for: .office).lang) }

    /// A text with its `{n}` filled in.
    func tx(_ key: String, _ req: Request, _ value: Any) -> String { tx(key, req).replacingOccurrences(of: "{n}", with: "\(value)") }

    /// The session middleware's configuration: HttpOnly, SameSite=Strict, Secure behind https, 30 minutes idle.
    /// Static: the statistics' routes use it too, without a console of their own.
    static func sessions(_ env: WebEnvironment) -> SessionMiddleware<LotseContext> {
        SessionMiddleware(
            storage: SQLitePersistDriver(store: env.store),
            configuration: .init(
                sessionCookieParameters: .init(
                    name: ConsoleSessionRules.cookie,
                    path: "/",
                    secure: env.config.publicBaseURL.lowercased().hasPrefix("https://"),
                    sameSite: .strict
                ),
                keyPrefix: "session.",
                defaultSessionExpiration: .seconds(ConsoleSessionRules.idle)
            )
        )
    }

    /// Every route of the console, with the roles that may use it (the route-walking test reads this list).
    static let routes: [(method: HTTPRequest.Method, path: String, roles: Set<Role>)] = [
        (.get, "/office", [.office, .admin]),
        (.get, "/office/cases", [.office, .admin]),
        (.get, "/office/cases/{number}", [.office, .admin]),
        (.post, "/office/cases/{number}/cancel", [.office, .admin]),
        (.post, "/office/cases/{number}/correct", [.office, .admin]),
        (.post, "/office/cases/{number}/cash", [.office, .admin]),
        (.get, "/office/cases/{number}/qr.png", [.office, .admin]),
        (.get, "/office/cases/{number}/letter", [.office, .admin]),
        (.get, "/office/cases/{number}/photos/{n}", [.office, .admin]),
        (.get, "/office/rejects/{file}", [.office, .admin]),
        (.get, "/office/payments", [.office, .admin]),
        (.post, "/office/payments/{id}/assign", [.office, .admin]),
        (.post, "/office/payments/{id}/refunded", [.office, .admin]),
        (.post, "/office/payments/{id}/refund", [.office, .admin]),
        (.get, "/office/imports", [.office, .admin]),
        (.post, "/office/imports", [.office, .admin]),
        (.get, "/office/bank-statements", [.office, .admin]),
        (.get, "/office/jobs/{id}", [.office, .admin]),
        (.post, "/office/bank-statements", [.office, .admin]),
        (.get, "/office/dunning", [.office, .admin]),
        (.post, "/office/dunning", [.office, .admin]),
        (.get, "/office/dunning/lists/{file}", [.office, .admin]),
        (.get, "/office/audit", [.office, .admin]),
        (.get, "/office/statements", [.office, .admin]),
        (.get, "/office/statements/{id}/files/{n}", [.office, .admin]),
        (.post, "/office/statements/{id}/decide", [.office, .admin]),
        (.get, "/office/qr", [.office, .admin]),
        (.post, "/office/qr", [.office, .admin]),
        (.get, "/office/users", [.admin]),
        (.post, "/office/users", [.admin]),
        (.post, "/office/users/{name}/disable", [.admin]),
        (.post, "/office/users/{name}/enable", [.admin]),
        (.post, "/office/users/{name}/reset", [.admin]),
        (.post, "/office/users/{name}/totp", [.admin]),
    ]

    func register(on router: Router<LotseContext>) {
        let office = router.group("office").add(middleware: Self.sessions(env))
        office.get("login") { req, ctx in try signInPage(req, ctx) }
        office.post("login") { req, ctx in try await signIn(req, ctx) }
        office.post("logout") { req, ctx in try await signOut(req, ctx) }

        let work = office.group().add(middleware: ConsoleAccess(env: env, roles: [.office, .admin]))
        work.get("") { req, ctx in try await start(req, ctx) }
        work.get("cases") { req, ctx in try await cases(req, ctx) }
        work.get("cases/:number") { req, ctx in try await casePage(req, ctx) }
        work.post("cases/:number/cancel") { req, ctx in try await cancelCase(req, ctx) }
        work.post("cases/:number/correct") { req, ctx in try await correctCase(req, ctx) }
        work.post("cases/:number/cash") { req, ctx in try await cashPayment(req, ctx) }
        work.get("cases/:number/qr.png") { req, ctx in try await caseQR(req, ctx) }
        work.get("cases/:number/letter") { req, ctx in try await caseLetter(req, ctx) }
        work.get("cases/:number/photos/:n") { req, ctx in try await casePhoto(req, ctx) }
        work.get("rejects/:file") { req, ctx in try await rejectsFile(req, ctx) }
        work.get("payments") { req, ctx in try await payments(req, ctx) }
        work.post("payments/:id/assign") { req, ctx in try await assign(req, ctx) }
        work.post("payments/:id/refunded") { req, ctx in try await refunded(req, ctx) }
        work.post("payments/:id/refund") { req, ctx in try await refundThroughPayPal(req, ctx) }
        work.get("imports") { req, ctx in try uploadPage(req, ctx, kind: .imports) }
        work.post("imports") { req, ctx in try await upload(req, ctx, kind: .imports) }
        work.get("bank-statements") { req, ctx in try uploadPage(req, ctx, kind: .bank) }
        work.get("jobs/:id") { req, ctx in try await jobPage(req, ctx) }
        work.post("bank-statements") { req, ctx in try await upload(req, ctx, kind: .bank) }
        work.get("dunning") { req, ctx in try await dunningPage(req, ctx) }
        work.post("dunning") { req, ctx in try await runDunning(req, ctx) }
        work.get("dunning/lists/:file") { req, ctx in try await dunningList(req, ctx) }
        work.get("audit") { req, ctx in try await audit(req, ctx) }
        work.get("statements") { req, ctx in try await statementsPage(req, ctx) }
        work.get("statements/:id/files/:n") { req, ctx in try await statementFile(req, ctx) }
        work.post("statements/:id/decide") { req, ctx in try await decideStatement(req, ctx) }
        work.get("qr") { req, ctx in try await qrPage(req, ctx) }
        work.post("qr") { req, ctx in try await qrDownload(req, ctx) }

        let admin = office.group().add(middleware: ConsoleAccess(env: env, roles: [.admin]))
        admin.get("users") { req, ctx in try await usersPage(req, ctx) }
        admin.post("users") { req, ctx in try await addUser(req, ctx) }
        admin.post("users/:name/disable") { req, ctx in try await disableUser(req, ctx) }
        admin.post("users/:name/enable") { req, ctx in try await enableUser(req, ctx) }
        admin.post("users/:name/reset") { req, ctx in try await resetPassword(req, ctx) }
        admin.post("users/:name/totp") { req, ctx in try await newSecondFactor(req, ctx) }
    }

    // MARK: rendering

    func render(
        _ template: String,
        _ req: Request,
        _ ctx: LotseContext,
        _ values: [String: Any],
        status: HTTPResponse.Status = .ok
    ) throws -> Response {
        let csrf = CSRF.token(req)
        let (lang, remember) = pages.language(req, for: .office)
        var c = pages.base(lang, path: req.uri.path, part: .office)
        c.merge(values) { _, new in new }
        c["csrf"] = csrf.value
        if let u = ctx.consoleUser {
            c["user"] = ["name": u.name, "role": u.role.rawValue, "admin": u.role == .admin]
        }
        guard let body = env.templates.render(c, withTemplate: template) else { throw HTTPError(.internalServerError) }
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store", .contentLanguage: lang]
        if remember, let cookie = pages.langCookies[lang] { headers.append(cookie) }
        if csrf.isNew {
            let secure = env.config.publicBaseURL.lowercased().hasPrefix("https://") ? "; Secure" : ""
            headers.append(HTTPField(name: .setCookie, value: "\(CSRF.cookie)=\(csrf.value); Path=/; HttpOnly; SameSite=Strict\(secure)"))
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// A file's bytes, read on NIO's blocking pool (a reminder list holds up to every case of a year).
    static func read(_ path: String) async throws -> Data? {
        try await NIOThreadPool.singleton.runIfActive { FileManager.default.contents(atPath: path) }
    }

    static func millis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    func form(_ req: Request) async throws -> [String: String] {
        Form.decode(String(buffer: try await req.body.collect(upTo: 64 * 1024)))
    }

    /// The form, when its CSRF token matches the cookie; else nil (the action is refused with 403).
    func checkedForm(_ req: Request) async throws -> [String: String]? {
        let f = try await form(req)
        return CSRF.verify(req, formValue: f["csrf"]) ? f : nil
    }

    static let forbidden = Response(
        status: .forbidden,
        headers: [.contentType: "text/plain; charset=utf-8"],
        body: .init(byteBuffer: .init(string: "the form has expired or did not come from this site: reload the page\n"))
    )

    func client(_ req: Request, _ ctx: LotseContext) -> String { env.proxies.client(req, ctx) }

    func record(_ req: Request, _ ctx: LotseContext, _ action: String, target: String = "", detail: String = "") async throws {
        try await AuditChain.record(
            env.store,
            user: ctx.consoleUser?.name ?? "?",
            client: client(req, ctx),
            action: action,
            target: target,
            detail: detail
        )
    }

    // MARK: signing in and out

    func signInPage(_ req: Request, _ ctx: LotseContext, message: String? = nil, status: HTTPResponse.Status = .ok) throws -> Response {
        var v: [String: Any] = ["title": tx("o_signin_title", req), "next": Self.safeNext(req.uri.queryParameters.get("next"))]
        if let message { v["message"] = message }
        return try render("office_login", req, ctx, v, status: status)
    }

    /// Only a path of the console or the statistics is a place to go after signing in (no open redirect).
    static func safeNext(_ s: String?) -> String {
        guard let s = s?.removingPercentEncoding, s.hasPrefix("/office") || s == "/stats" || s.hasPrefix("/stats?"), !s.contains("//"),
            !s.contains("\\")
        else { return "/office" }
        return s
    }

    func signIn(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        let client = client(req, ctx)
        let now = Int64(Date().timeIntervalSince1970)
        if let wait = signInFailures.retryAfter(client) {
            return try signInPage(
                req,
                ctx,
                message: tx("o_msg_wait", req, Int(wait.rounded(.up))),
                status: .tooManyRequests
            )
        }
        guard let f = try await checkedForm(req) else { return Self.forbidden }
        let name = f["user"] ?? ""
        let password = f["password"] ?? ""
        let user = try await env.store.user(name: name)
        if let user, user.lockedUntil > now {
            let minutes = (user.lockedUntil - now + 59) / 60
            return try signInPage(
                req,
                ctx,
                message: tx("o_msg_locked", req, minutes),
                status: .tooManyRequests
            )
        }
        // bcrypt is slow on purpose: off the event loop; an unknown user costs the same as a wrong password
        let hash = user?.passwordHash ?? "$2b$12$C6UzMDM.H6dfI/f/IKcEeO5Y1GhOWf1oEkNxCFsLGn8XEg0pIlV5e"
        let passwordOK = try await NIOThreadPool.singleton.runIfActive { AccountRules.verify(password, hash: hash) }
        let codeOK = user?.totpSecret.map { AccountRules.verifyCode(f["otp"] ?? "", secret: $0) } ?? true
        guard let user, passwordOK, codeOK, !user.disabled else {
            signInFailures.failed(client)
            if let user {
                _ = try await env.store.noteFailedSignIn(
                    name: user.name,
                    threshold: AccountRules.lockThreshold,
                    lockSeconds: AccountRules.lockSeconds,
                    now: now
                )
            }
            try await AuditChain.record(env.store, user: name.prefix(40).description, client: client, action: "sign_in_failed")
            return try signInPage(req, ctx, message: tx("o_msg_wrong", req), status: .unauthorized)
        }
        signInFailures.succeeded(client)
        try await env.store.clearFailedSignIns(name: user.name)
        // a new session id at every sign-in (never one a visitor brought along)
        ctx.sessions.createSession(
            ConsoleSession(user: user.name, lastSeen: now, startedAtMillis: Self.millis()),
            expiresIn: .seconds(ConsoleSessionRules.idle)
        )
        try await AuditChain.record(env.store, user: user.name, client: client, action: "signed_in")
        let next = Self.safeNext(f["next"])
        if user.role == .evaluator && next.hasPrefix("/office") { return redirect("/stats") }
        return redirect(next)
    }

    func signOut(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        guard try await checkedForm(req) != nil else { return Self.forbidden }
        if let s = ctx.sessions.session {
            try await AuditChain.record(env.store, user: s.user, client: client(req, ctx), action: "signed_out")
        }
        ctx.sessions.clearSession()
        return redirect("/office/login")
    }

    // MARK: the start page

    func start(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        let today = BerlinTime.local(Int64(Date().timeIntervalSince1970)).date
        let counts = try await env.store.consoleCounts(remindBefore: today.adding(days: -env.config.graceDays))
        let statements = try await env.store.pendingStatementCount()
        let imports = try await env.store.auditEntries(action: "import", limit: 5).map(Self.entry)
        let statementFiles = try await env.store.auditEntries(action: "bank_statement", limit: 5).map(Self.entry)
        return try render(
            "office_start",
            req,
            ctx,
            [
                "title": tx("o_today", req), "unmatched": counts.unmatched, "partial": counts.partial, "refunds": counts.refunds,
                "due": counts.dueForDunning, "imports": imports, "statements": statementFiles, "pendingStatements": statements,
            ]
        )
    }

    static func entry(_ e: AuditEntry) -> [String: Any] {
        let t = BerlinTime.local(e.at)
        return [
            "id": e.id, "when": "\(t.date) \(t.clock)", "user": e.user, "client": e.client, "action": e.action, "target": e.target,
            "detail": e.detail,
        ]
    }

    // MARK: cases

    func cases(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        let q = req.uri.queryParameters
        let query = String(q.get("q") ?? "").trimmingCharacters(in: .whitespaces)
        let status = q.get("status").flatMap { CaseStatus(rawValue: String($0)) }
        let from = q.get("from").flatMap { CivilDate(iso: String($0)) }.map { BerlinTime.utc(date: $0, hour: 0, minute: 0) } ?? 0
        let to = q.get("to").flatMap { CivilDate(iso: String($0)) }.map { BerlinTime.utc(date: $0.adding(days: 1), hour: 0, minute: 0) } ?? 0
        let searched = !query.isEmpty || status != nil || from != 0 || to != 0
        let found = searched ? try await env.store.searchCases(query: query, status: status, from: from, to: to) : []
        return try render(
            "office_cases",
            req,
            ctx,
            [
                "title": tx("o_cases", req), "q": query, "searched": searched, "count": found.count,
                "statuses": CaseStatus.allCases.map { ["code": $0.rawValue, "selected": $0 == status] },
                "from": q.get("from").map { String($0) } ?? "", "to": q.get("to").map { String($0) } ?? "",
                "cases": found.map { c in
                    [
                        "number": c.caseNumber, "plate": c.plate, "date": BerlinTime.local(c.issuedAt).date.description,
                        "status": c.status.rawValue, "amount": Money.display(c.amountCents, language: "de"),
                    ] as [String: Any]
                },
            ]
        )
    }

    func casePage(_ req: Request, _ ctx: LotseContext, message: String? = nil) async throws -> Response {
        let number = ctx.parameters.get("number") ?? ""
        guard let (c, events, payments) = try await env.store.caseWithHistory(number: number) else {
            return try render(
                "office_message",
                req,
                ctx,
                ["title": tx("o_msg_not_found", req), "message": tx("o_msg_no_case", req, number)],
                status: .notFound
            )
        }
        let t = BerlinTime.local(c.issuedAt)
        var v: [String: Any] = [
            "title": c.caseNumber, "number": c.caseNumber, "plate": c.plate, "country": c.plateCountry,
            "date": "\(t.date) \(t.clock)", "street": c.street, "city": c.city, "tbnr": c.tbnr, "offence": c.offenceText,
            "amount": Money.display(c.amountCents, language: "de"), "received": Money.display(c.receivedCents, language: "de"),
            "status": c.status.rawValue, "deadline": c.deadline, "ticket": c.ticketNo ?? "", "device": c.deviceID ?? "",
            "payable": c.status.isPayable, "cancellable": c.status != .cancelled && c.status != .handedOver,
            "events": events.map { e in
                let w = BerlinTime.local(e.at)
                return ["when": "\(w.date) \(w.clock)", "kind": e.kind, "detail": e.detail ?? ""]
            },
            "payments": payments.map { p in
                [
                    "id": p.id, "channel": p.channel.rawValue, "amount": Money.display(p.amountCents, language: "de"),
                    "disposition": p.disposition.rawValue, "date": BerlinTime.local(p.paidAt).date.description, "note": p.note ?? "",
                ] as [String: Any]
            },
            "pageURL": env.config.publicBaseURL + "/T/" + env.tokens.token(caseID: c.id),
            "photos": c.photos > 0 && c.erasedAt == nil
                ? (1...c.photos).map { ["href": "/office/cases/\(c.caseNumber)/photos/\($0)", "n": $0] as [String: Any] } : [],
            "hasPhotos": c.photos > 0 && c.erasedAt == nil,
        ]
        if let message { v["message"] = message }
        try await record(req, ctx, "case_viewed", target: c.caseNumber)
        return try render("office_case", req, ctx, v)
    }

    /// `GET /office/cases/{number}/photos/{n}`: the warden's photo `n` of the case (issue 16), for the office deciding a
    /// statement; each view is in the audit log.
    func casePhoto(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        guard let c = try await env.store.caseRecord(number: ctx.parameters.get("number") ?? ""), c.erasedAt == nil,
            let n = ctx.parameters.get("n").flatMap({ Int($0) }), (1...99).contains(n),
            let photo = try await env.store.photo(caseID: c.id, number: n)
        else { return Response(status: .notFound) }
        guard let body = try await pages.photoBytes(photo) else { return Response(status: .notFound) }
        try await record(req, ctx, "photo_viewed", target: c.caseNumber, detail: "photo \(n)")
        return Response(status: .ok, headers: [.contentType: photo.contentType, .cacheControl: "no-store"], body: .init(byteBuffer: body))
    }

    func cancelCase(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        guard let f = try await checkedForm(req) else { return Self.forbidden }
        let number = ctx.parameters.get("number") ?? ""
        let reason = (f["reason"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty else { return try await casePage(req, ctx, message: tx("o_msg_reason", req)) }
        let now = Int64(Date().timeIntervalSince1970)
        let store = env.store
        do {
            let (n, refunds) = try await NIOThreadPool.singleton.runIfActive { try store.cancelCase(number: number, reason: reason, at: now) }
            try await record(req, ctx, "case_cancelled", target: n, detail: reason + (refunds > 0 ? " (\(refunds) payment(s) to refund)" : ""))
            return redirect("/office/cases/" + n)
        } catch let e as LotseError {
            return try await casePage(req, ctx, message: e.description)
        }
    }

    func correctCase(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        guard let f = try await checkedForm(req) else { return Self.forbidden }
        let number = ctx.parameters.get("number") ?? ""
        let reason = (f["reason"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let value = (f["value"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty, !value.isEmpty, value.count <= 80 else {
            return try await casePage(req, ctx, message: tx("o_msg_value_reason", req))
        }
        var plate: String?
        var street: String?
        switch f["field"] {
        case "plate":
            guard let p = Plate.normalise(value, country: "D") else {
                return try await casePage(req, ctx, message: tx("o_msg_bad_plate", req, value))
            }
            plate = p
        case "place": street = value
        default: return try await casePage(req, ctx, message: tx("o_msg_bad_field", req))
        }
        guard
            let old = try await env.store.correctCase(
                number: number,
                plate: plate,
                street: street,
                reason: reason,
                at: Int64(Date().timeIntervalSince1970)
            )
        else { return try await casePage(req, ctx, message: tx("o_msg_no_case", req, number)) }
        try await record(req, ctx, "case_corrected", target: number, detail: "\(f["field"] ?? ""): \(old) -> \(plate ?? street ?? ""); \(reason)")
        return redirect("/office/cases/" + number)
    }

    /// The case's QR code as PNG (for a letter or a reprint).
    func caseQR(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        guard let c = try await env.store.caseRecord(number: ctx.parameters.get("number") ?? "") else { return Response(status: .notFound) }
        let code = try QRCode(CaseTokens.url(base: env.config.publicBaseURL, token: env.tokens.token(caseID: c.id)), level: .M)
        try await record(req, ctx, "qr_code_downloaded", target: c.caseNumber)
        return Response(
            status: .ok,
            headers: [.contentType: "image/png", .cacheControl: "no-store", .contentDisposition: "inline; filename=\"\(c.caseNumber).png\""],
            body: .init(byteBuffer: ByteBuffer(bytes: code.png(moduleSize: 8)))
        )
    }

    /// A printable letter for the case: what happened, what to pay by when, and its QR code with the page's address.
    func caseLetter(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        guard let c = try await env.store.caseRecord(number: ctx.parameters.get("number") ?? "") else {
            return try render("office_message", req, ctx, ["title": tx("o_msg_not_found", req)], status: .notFound)
        }
        let t = BerlinTime.local(c.issuedAt)
        var v: [String: Any] = [
            "title": c.caseNumber, "number": c.caseNumber, "date": "\(t.date) \(t.clock)", "street": c.street, "cityOfCase": c.city,
            "plate": c.plate, "offence": c.offenceText, "tbnr": c.tbnr, "amount": Money.display(c.dueCents, language: "de"),
            "deadline": c.deadline, "url": CaseTokens.url(base: env.config.publicBaseURL, token: env.tokens.token(caseID: c.id)),
            "qr": "/office/cases/" + c.caseNumber + "/qr.png",
        ]
        if let payee = env.payee, let ref = RFReference.make(from: c.caseNumber) {
            v["bank"] = ["name": payee.name, "iban": payee.ibanGrouped, "reference": Payee.grouped(ref)]
        }
        try await record(req, ctx, "letter_printed", target: c.caseNumber)
        return try render("office_letter", req, ctx, v)
    }

    /// A rejects file of an import (from `rejects/`), as a download.
    func rejectsFile(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        let name = ctx.parameters.get("file") ?? ""
        guard name.hasSuffix(".rejects.csv"), !name.contains("/"), !name.hasPrefix("."),
            let data = try await Self.read(env.config.dataDir + "/rejects/" + name)
        else { return Response(status: .notFound) }
        try await record(req, ctx, "rejects_downloaded", target: name)
        return Response(
            status: .ok,
            headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"\(name)\"", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    func cashPayment(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        guard let f = try await checkedForm(req) else { return Self.forbidden }
        let number = ctx.parameters.get("number") ?? ""
        guard let cents = Money.parseCents((f["amount"] ?? "").replacingOccurrences(of: ",", with: ".")), cents > 0 else {
            return try await casePage(req, ctx, message: tx("o_msg_amount", req))
        }
        let receipt = (f["receipt"] ?? "").trimmingCharacters(in: .whitespaces)
        guard let c = try await env.store.caseRecord(number: number) else {
            return try await casePage(req, ctx, message: tx("o_msg_no_case", req, number))
        }
        let now = Int64(Date().timeIntervalSince1970)
        let payment = IncomingPayment(
            channel: .cash,
            amountCents: cents,
            paidAt: now,
            source: "console",
            dedupKey: "cash:console:" + (receipt.isEmpty ? UUID().uuidString : c.caseNumber + ":" + receipt),
            externalID: receipt.isEmpty ? nil : receipt,
            note: "booked by \(ctx.consoleUser?.name ?? "?")"
        )
        let outcome = try await env.store.recordPaymentAsync(payment, caseID: c.id, now: now)
        try await record(
            req,
            ctx,
            "cash_booked",
            target: c.caseNumber,
            detail: Money.plain(cents) + " EUR" + (receipt.isEmpty ? "" : ", receipt \(receipt)")
        )
        if outcome == .duplicate { return try await casePage(req, ctx, message: tx("o_msg_receipt_twice", req)) }
        return redirect("/office/cases/" + c.caseNumber)
    }

    // MARK: payments

    func payments(_ req: Request, _ ctx: LotseContext, message: String? = nil) async throws -> Response {
        let which = req.uri.queryParameters.get("list").map { String($0) } ?? "unmatched"
        let disposition: Disposition
        switch which {
        case "partial": disposition = .partial
        case "refunds": disposition = .refund
        default: disposition = .unmatched
        }
        let list = try await env.store.paymentList(disposition)
        var rows: [[String: Any]] = []
        for p in list {
            var row: [String: Any] = [
                "id": p.id, "date": BerlinTime.local(p.paidAt).date.description, "amount": Money.display(p.amountCents, language: "de"),
                "refund": Money.display(p.refundCents, language: "de"), "case": p.caseNumber ?? "", "channel": p.channel.rawValue,
                "text": [p.payer, p.reference, p.note].compactMap { $0 }.joined(separator: " | "), "paypal": p.channel == .paypal,
            ]
            if disposition == .unmatched {
                row["suggestions"] = try await env.store.suggestions(for: p).map { ["number": $0] }
            }
            rows.append(row)
        }
        var v: [String: Any] = [
            "title": tx("o_payments", req), "rows": rows, "count": rows.count,
            "unmatched": disposition == .unmatched, "partial": disposition == .partial, "refunds": disposition == .refund,
        ]
        if let message { v["message"] = message }
        return try render("office_payments", req, ctx, v)
    }

    func assign(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        guard let f = try await checkedForm(req) else { return Self.forbidden }
        guard let id = ctx.parameters.get("id").flatMap(Int64.init) else { return Self.forbidden }
        let number = (f["case_number"] ?? "").trimmingCharacters(in: .whitespaces)
        let store = env.store
        do {
            let (d, n) = try await NIOThreadPool.singleton.runIfActive {
                try store.assignPayment(id: id, toCase: number, at: Int64(Date().timeIntervalSince1970))
            }
            try await record(req, ctx, "payment_assigned", target: n, detail: "payment \(id): \(d.rawValue)")
            return redirect("/office/payments?list=unmatched")
        } catch let e as LotseError {
            return try await payments(req, ctx, message: e.description)
        }
    }

    func refunded(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        guard let f = try await checkedForm(req) else { return Self.forbidden }
        guard let id = ctx.parameters.get("id").flatMap(Int64.init) else { return Self.forbidden }
        let note = (f["note"] ?? "").trimmingCharacters(in: .whitespaces)
        guard try await env.store.markRefunded(paymentID: id, note: note.isEmpty ? "refunded by hand" : note, at: Int64(Date().timeIntervalSince1970))
        else { return try await payments(req, ctx, message: tx("o_msg_not_refund", req, id)) }
        try await record(req, ctx, "refund_done", target: "payment \(id)", detail: note)
        return redirect("/office/payments?list=refunds")
    }

    func refundThroughPayPal(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        guard try await checkedForm(req) != nil else { return Self.forbidden }
        guard let id = ctx.parameters.get("id").flatMap(Int64.init) else { return Self.forbidden }
        guard let paypal = env.paypal as? PayPalProvider else { return try await payments(req, ctx, message: tx("o_msg_no_paypal", req)) }
        let outcome = try await paypal.refundFromList(paymentID: id)
        try await record(req, ctx, "paypal_refund", target: "payment \(id)", detail: "\(outcome)")
        return redirect("/office/payments?list=refunds")
    }

    // MARK: uploads

    enum UploadKind {
        case imports, bank
        var titleKey: String { self == .imports ? "o_import_title" : "o_bank_title" }
        var path: String { self == .imports ? "/office/imports" : "/office/bank-statements" }
        var action: String { self == .imports ? "import" : "bank_statement" }
    }

    func uploadPage(_ req: Request, _ ctx: LotseContext, kind: UploadKind, results: [[String: Any]] = []) throws -> Response {
        let csrf = CSRF.token(req).value
        return try render(
            "office_upload",
            req,
            ctx,
            [
                "title": tx(kind.titleKey, req), "action": kind.path + "?csrf=" + csrf, "results": results, "hasResults": !results.isEmpty,
                "hint": kind == .imports ? tx("o_imports_photos", req) : "",
            ]
        )
    }

    /// `POST /office/imports`, `POST /office/bank-statements`: multipart, field `file` (one or more), each streamed to a
    /// file in the data directory with a size limit, then processed off the event loop. The CSRF token is in the
    /// action's query (the body is the files).
    func upload(_ req: Request, _ ctx: LotseContext, kind: UploadKind) async throws -> Response {
        guard CSRF.verify(req, formValue: req.uri.queryParameters.get("csrf").map { String($0) }) else { return Self.forbidden }
        guard let type = req.headers[.contentType], let boundary = Self.boundary(type) else {
            return try uploadPage(req, ctx, kind: kind, results: [["line": tx("o_msg_choose_file", req)]])
        }
        let dir = OfficeController.uploadsDirectory(dataDir: env.config.dataDir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let files = try await MultipartFiles.receive(req.body, boundary: boundary, field: "file", directory: dir, limit: OfficeController.maxUpload)
        guard !files.isEmpty else { return try uploadPage(req, ctx, kind: kind, results: [["line": tx("o_msg_no_file", req)]]) }
        // processed off the request: the page of the job shows its progress and then its results
        let id = jobs.start(kind: kind == .imports ? "import" : "bank", files: files.map(\.1))
        let (store, config, user, client) = (env.store, env.config, ctx.consoleUser?.name ?? "?", client(req, ctx))
        let rejectsText = tx("o_msg_rejects", req, "{file}")
        let jobs = self.jobs
        Task.detached {
            for (index, (path, name)) in files.enumerated() {
                var line: String
                var problems: [String] = []
                do {
                    switch kind {
                    case .imports:
                        let summary = try await NIOThreadPool.singleton.runIfActive {
                            let catalogue = try Catalogue(contentsOf: config.cataloguePath)
                            return try Importer(store: store, config: config, catalogue: catalogue).importFile(path, displayName: name) { read in
                                jobs.progress(id, file: index, records: read)
                            }
                        }
                        line = summary.line + (summary.photos > 0 ? ", photos \(summary.photos)" : "")
                        problems += summary.warnings
                        if let r = summary.rejectsFile {
                            problems.append(rejectsText.replacingOccurrences(of: "{file}", with: (r as NSString).lastPathComponent))
                            jobs.rejects(id, file: index, name: (r as NSString).lastPathComponent, rows: ConsoleController.firstRejects(r))
                        }
                    case .bank:
                        let summary = try await NIOThreadPool.singleton.runIfActive {
                            try Reconciler(store: store).reconcile(path, displayName: name)
                        }
                        line = summary.line
                        problems += summary.problems
                    }
                } catch {
                    line = "\(name): \(error)"
                }
                // the upload holds plates or accounts: it goes once it is processed (its rows are in the database, its
                // rejects in their own file)
                try? FileManager.default.removeItem(atPath: path)
                _ = try? await AuditChain.record(store, user: user, client: client, action: kind.action, target: name, detail: line)
                jobs.finished(id, file: index, line: line, problems: problems)
            }
        }
        return redirect("/office/jobs/" + id)
    }

    /// `GET /office/jobs/{id}`: an upload's processing — file by file, records read so far — refreshed every second
    /// until it is done; then the summary lines and the rejects.
    func jobPage(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        guard let job = jobs.job(ctx.parameters.get("id") ?? "") else {
            return try render("office_message", req, ctx, ["title": tx("o_msg_not_found", req)], status: .notFound)
        }
        return try render(
            "office_job",
            req,
            ctx,
            [
                "title": tx(job.kind == "import" ? "o_import_title" : "o_bank_title", req), "running": !job.done, "done": job.done,
                "files": job.files.map { f -> [String: Any] in
                    [
                        "name": f.name, "line": f.line ?? "", "records": f.records, "running": f.line == nil,
                        "problems": f.problems.map { ["text": $0] },
                        "rejects": f.rejectsFile.map { name -> [String: Any] in
                            ["href": "/office/rejects/" + name, "rows": f.rejectRows.map { ["line": $0.line, "reason": $0.reason] }]
                        } ?? false,
                    ]
                },
                "back": job.kind == "import" ? "/office/imports" : "/office/bank-statements",
            ]
        )
    }

    /// The first 100 rows of a rejects file (`line;reason;raw`): line and reason.
    static func firstRejects(_ path: String) -> [(line: String, reason: String)] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").dropFirst().prefix(100).map { row in
            let parts = row.split(separator: ";", maxSplits: 2, omittingEmptySubsequences: false)
            let reason = parts.count > 1 ? String(parts[1]).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) : ""
            return (String(parts[0]), reason)
        }
    }

    /// The boundary of a `multipart/form-data` body: 1 to 70 of RFC 2046's characters, not ending in a space (nil
    /// otherwise: the parser traps on an empty boundary, so one such header would stop the server).
    static func boundary(_ contentType: String) -> String? {
        guard contentType.lowercased().hasPrefix("multipart/form-data") else { return nil }
        for part in contentType.split(separator: ";") {
            let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            guard kv.count == 2, kv[0].lowercased() == "boundary" else { continue }
            var value = Substring(kv[1])
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = value.dropFirst().dropLast() }
            let allowed = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ")
            guard (1...70).contains(value.count), value.allSatisfy(allowed.contains), value.last != " " else { return nil }
            return String(value)
        }
        return nil
    }

    // MARK: dunning

    func dunningPage(_ req: Request, _ ctx: LotseContext, message: String? = nil) async throws -> Response {
        let today = BerlinTime.local(Int64(Date().timeIntervalSince1970)).date
        let counts = try await env.store.consoleCounts(remindBefore: today.adding(days: -env.config.graceDays))
        let preview = try await env.store.duePreview(remindBefore: today.adding(days: -env.config.graceDays))
        let dir = env.config.dataDir + "/reminders"
        let lists = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".csv") }.sorted().reversed()
        var v: [String: Any] = [
            "title": tx("o_dunning", req), "due": counts.dueForDunning, "today": today.description,
            "preview": preview.map {
                ["number": $0.caseNumber, "plate": $0.plate, "amount": Money.display($0.amountCents, language: "de"), "deadline": $0.deadline]
            },
            "more": counts.dueForDunning > preview.count, "hasPreview": !preview.isEmpty,
            "lists": lists.map { ["name": $0, "href": "/office/dunning/lists/" + $0] },
        ]
        if let message { v["message"] = message }
        return try render("office_dunning", req, ctx, v)
    }

    func runDunning(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        guard try await checkedForm(req) != nil else { return Self.forbidden }
        let now = Int64(Date().timeIntervalSince1970)
        let day = BerlinTime.local(now).date
        let guarded = try await ReminderGuard.check(store: env.store, providers: env.providers, remindBefore: day.adding(days: -env.config.graceDays))
        let (store, config) = (env.store, env.config)
        let summary = try await NIOThreadPool.singleton.runIfActive {
            try Dunning.run(
                store: store,
                asOf: day,
                graceDays: config.graceDays,
                at: now,
                out: Dunning.defaultOut(dataDir: config.dataDir, asOf: day),
                holdBack: Set(guarded.held.map(\.caseID))
            )
        }
        let held = guarded.held.map(\.caseNumber)
        try await record(
            req,
            ctx,
            "dunning_run",
            target: (summary.file as NSString).lastPathComponent,
            detail: summary.line + (held.isEmpty ? "" : "; held back: " + held.joined(separator: ", "))
        )
        return try await dunningPage(
            req,
            ctx,
            message: tx("o_msg_dunning", req).replacingOccurrences(of: "{r}", with: String(summary.reminded))
                .replacingOccurrences(of: "{o}", with: String(summary.overdue))
                + (held.isEmpty ? "" : "; " + tx("o_msg_held", req, held.joined(separator: ", ")))
        )
    }

    func dunningList(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        let name = ctx.parameters.get("file") ?? ""
        guard name.hasPrefix("reminders-"), name.hasSuffix(".csv"), !name.contains("/"), !name.contains(".."),
            let data = try await Self.read(env.config.dataDir + "/reminders/" + name)
        else { return Response(status: .notFound) }
        try await record(req, ctx, "reminder_list_downloaded", target: name)
        return Response(
            status: .ok,
            headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"\(name)\"", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    // MARK: statements of motorists

    func statementsPage(_ req: Request, _ ctx: LotseContext, message: String? = nil) async throws -> Response {
        let pending = try await env.store.statements(.pending)
        var v: [String: Any] = [
            "title": tx("o_statements", req),
            "statements": pending.map { s -> [String: Any] in
                let t = BerlinTime.local(s.createdAt)
                return [
                    "id": s.id, "case": s.caseNumber, "when": "\(t.date) \(t.clock)", "text": s.text,
                    "number": MotoristController.statementNumber(s.id),
                    "ground": s.ground.map { tx("statement_ground_" + $0.rawValue, req) } ?? "",
                    "files": s.attachments.indices.map { ["href": "/office/statements/\(s.id)/files/\($0)", "n": $0 + 1] },
                ]
            },
        ]
        if let message { v["message"] = message }
        return try render("office_statements", req, ctx, v)
    }

    /// An attachment of a statement, as a download (never shown inline: it came from outside).
    func statementFile(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        guard let id = ctx.parameters.get("id").flatMap(Int64.init), let n = ctx.parameters.get("n").flatMap(Int.init),
            let s = try await env.store.statement(id: id), s.attachments.indices.contains(n)
        else { return Response(status: .notFound) }
        let path = env.config.dataDir + "/statements/" + s.attachments[n]
        guard
            let (type, data) = try await NIOThreadPool.singleton.runIfActive({ () -> (String, Data)? in
                guard let type = MotoristController.attachmentType(path), let data = FileManager.default.contents(atPath: path) else { return nil }
                return (type, data)
            })
        else {
            return Response(status: .notFound)
        }
        try await record(req, ctx, "statement_file_viewed", target: s.caseNumber, detail: "statement \(id), file \(n + 1)")
        let ext = type == "application/pdf" ? "pdf" : type == "image/png" ? "png" : "jpg"
        return Response(
            status: .ok,
            headers: [
                .contentType: type, .cacheControl: "no-store",
                .contentDisposition: "attachment; filename=\"statement-\(id)-\(n + 1).\(ext)\"",
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    func decideStatement(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        guard let f = try await checkedForm(req) else { return Self.forbidden }
        guard let id = ctx.parameters.get("id").flatMap(Int64.init) else { return Self.forbidden }
        let reason = (f["reason"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty, let decision = f["decision"], decision == "accept" || decision == "reject" else {
            return try await statementsPage(req, ctx, message: tx("o_msg_reason", req))
        }
        let user = ctx.consoleUser?.name ?? "?"
        guard let s = try await env.store.statement(id: id),
            try await env.store.decideStatement(
                id: id,
                accepted: decision == "accept",
                reason: reason,
                by: user,
                now: Int64(Date().timeIntervalSince1970)
            )
        else { return try await statementsPage(req, ctx, message: tx("o_msg_not_found", req)) }
        try await record(req, ctx, "statement_decided", target: s.caseNumber, detail: "statement \(id) \(decision)ed: \(reason)")
        return redirect("/office/statements")
    }

    // MARK: QR codes

    func qrPage(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        let store = env.store
        let (new, letters) = try await NIOThreadPool.singleton.runIfActive {
            (try store.casesForQR(printedToo: false).count, try store.letterCaseNumbers().count)
        }
        return try render("office_qr", req, ctx, ["title": tx("o_qr", req), "new": new, "letters": letters])
    }

    /// `POST /office/qr` (`which=new|letters`, `format=png|svg`): the codes as one ZIP with their manifest.
    func qrDownload(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        guard let f = try await checkedForm(req) else { return Self.forbidden }
        let selection = QRArchive.Selection(rawValue: f["which"] ?? "") ?? .new
        let format = QRBatch.Format(rawValue: f["format"] ?? "") ?? .png
        let (store, tokens, config) = (env.store, env.tokens, env.config)
        let (path, count) = try await NIOThreadPool.singleton.runIfActive {
            try QRArchive.make(
                store: store,
                tokens: tokens,
                baseURL: config.publicBaseURL,
                dataDir: config.dataDir,
                selection: selection,
                format: format
            )
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        guard let data = try await Self.read(path) else { throw HTTPError(.internalServerError) }
        try await record(req, ctx, "qr_codes_downloaded", target: selection.rawValue, detail: "\(count) codes, \(format.rawValue)")
        let day = BerlinTime.local(Int64(Date().timeIntervalSince1970)).date
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/zip", .cacheControl: "no-store",
                .contentDisposition: "attachment; filename=\"qr-\(selection.rawValue)-\(day).zip\"",
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    // MARK: audit

    func audit(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        let q = req.uri.queryParameters
        let user = q.get("user").map { String($0) } ?? ""
        let action = q.get("action").map { String($0) } ?? ""
        let target = q.get("target").map { String($0) } ?? ""
        let entries = try await env.store.auditEntries(user: user, action: action, target: target, limit: q.get("format") == "csv" ? 100_000 : 500)
        if q.get("format") == "csv" {
            var out = [UInt8]()
            out.append(contentsOf: "id;time;user;client;action;target;detail;hash\n".utf8)
            for e in entries.reversed() {
                let t = BerlinTime.local(e.at)
                for (i, field) in [String(e.id), "\(t.date) \(t.clock)", e.user, e.client, e.action, e.target, e.detail, e.hash].enumerated() {
                    if i > 0 { out.append(UInt8(ascii: ";")) }
                    CSVWriter.appendField(&out, field)
                }
                out.append(UInt8(ascii: "\n"))
            }
            return Response(
                status: .ok,
                headers: [
                    .contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"audit.csv\"", .cacheControl: "no-store",
                ],
                body: .init(byteBuffer: ByteBuffer(bytes: out))
            )
        }
        return try render(
            "office_audit",
            req,
            ctx,
            ["title": tx("o_audit", req), "entries": entries.map(Self.entry), "user_": user, "action": action, "target": target]
        )
    }

    // MARK: users (admin)

    func usersPage(_ req: Request, _ ctx: LotseContext, message: String? = nil, secretURL: String? = nil) async throws -> Response {
        let store = env.store
        let users = try await NIOThreadPool.singleton.runIfActive { try store.users() }
        var v: [String: Any] = [
            "title": tx("o_users", req),
            "users": users.map {
                ["name": $0.name, "role": $0.role.rawValue, "disabled": $0.disabled, "totp": $0.totpSecret != nil, "admin": $0.role == .admin]
            },
        ]
        if let message { v["message"] = message }
        if let secretURL { v["secretURL"] = secretURL }
        return try render("office_users", req, ctx, v)
    }

    func addUser(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        guard let f = try await checkedForm(req) else { return Self.forbidden }
        let name = f["name"] ?? ""
        guard AccountRules.isValidName(name), let role = Role(rawValue: f["role"] ?? "") else {
            return try await usersPage(req, ctx, message: tx("o_msg_name_role", req))
        }
        let password = f["password"] ?? ""
        if let problem = rules.problem(password: password, user: name) {
            return try await usersPage(req, ctx, message: tx("o_msg_password", req, problem))
        }
        let secret = role == .admin || f["totp"] == "1" ? AccountRules.newSecret() : nil
        let hash = try await NIOThreadPool.singleton.runIfActive { AccountRules.hash(password) }
        let store = env.store
        let added = try await NIOThreadPool.singleton.runIfActive {
            try store.addUser(name: name, role: role, passwordHash: hash, totpSecret: secret, now: Int64(Date().timeIntervalSince1970))
        }
        guard added else { return try await usersPage(req, ctx, message: tx("o_msg_user_exists", req, name)) }
        try await record(req, ctx, "user_added", target: name, detail: "role \(role.rawValue)")
        return try await usersPage(
            req,
            ctx,
            message: tx("o_msg_user_added", req, name),
            secretURL: secret.map { AccountRules.authenticatorURL(secret: $0, user: name, issuer: "Lotse " + env.config.cityName) }
        )
    }

    func enableUser(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        guard try await checkedForm(req) != nil else { return Self.forbidden }
        let name = ctx.parameters.get("name") ?? ""
        let store = env.store
        let done = try await NIOThreadPool.singleton.runIfActive { try store.setDisabled(name: name, false, nowMillis: Self.millis()) }
        if done { try await record(req, ctx, "user_enabled", target: name) }
        return redirect("/office/users")
    }

    /// A new password set by an admin: every session of the user ends.
    func resetPassword(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        guard let f = try await checkedForm(req) else { return Self.forbidden }
        let name = ctx.parameters.get("name") ?? ""
        let password = f["password"] ?? ""
        if let problem = rules.problem(password: password, user: name) {
            return try await usersPage(req, ctx, message: tx("o_msg_password", req, problem))
        }
        let hash = try await NIOThreadPool.singleton.runIfActive { AccountRules.hash(password) }
        let store = env.store
        let done = try await NIOThreadPool.singleton.runIfActive { try store.setPassword(name: name, passwordHash: hash, nowMillis: Self.millis()) }
        guard done else { return try await usersPage(req, ctx, message: tx("o_msg_no_user", req, name)) }
        try await record(req, ctx, "password_reset", target: name)
        return try await usersPage(req, ctx, message: tx("o_msg_user_reset", req, name))
    }

    /// A new second factor set by an admin (for a user without one, or in place of a lost phone's), shown once: every
    /// session of the user ends. Not for an admin, the acting one included: with a new password and a new factor one admin
    /// would hold both of another's, and a factor not scanned in time would lock an admin out of the console; an admin's
    /// factor is changed on the server (`lotse users totp`).
    func newSecondFactor(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        guard try await checkedForm(req) != nil else { return Self.forbidden }
        let name = ctx.parameters.get("name") ?? ""
        let store = env.store
        guard let user = try await store.user(name: name) else { return try await usersPage(req, ctx, message: tx("o_msg_no_user", req, name)) }
        guard user.role != .admin else { return try await usersPage(req, ctx, message: tx("o_msg_totp_admin", req, name)) }
        let secret = AccountRules.newSecret()
        let done = try await NIOThreadPool.singleton.runIfActive {
            try store.setSecondFactor(name: name, totpSecret: secret, nowMillis: Self.millis())
        }
        guard done else { return try await usersPage(req, ctx, message: tx("o_msg_no_user", req, name)) }
        try await record(req, ctx, "second_factor_set", target: name)
        return try await usersPage(
            req,
            ctx,
            message: tx("o_msg_totp_set", req, name),
            secretURL: AccountRules.authenticatorURL(secret: secret, user: name, issuer: "Lotse " + env.config.cityName)
        )
    }

    func disableUser(_ req: Request, _ ctx: LotseContext) async throws -> Response {
        guard try await checkedForm(req) != nil else { return Self.forbidden }
        let name = ctx.parameters.get("name") ?? ""
        let store = env.store
        let done = try await NIOThreadPool.singleton.runIfActive { try store.setDisabled(name: name, true, nowMillis: Self.millis()) }
        if done { try await record(req, ctx, "user_disabled", target: name) }
        return redirect("/office/users")
    }
}

/// Streams the parts of a multipart body named `field` to files in `directory` (private, at most `limit` bytes in all):
/// the file names as sent (for the summaries) and their paths.
enum MultipartFiles {
    final class Sink: @unchecked Sendable {
        var files: [(path: String, name: String)] = []
        var handle: FileHandle?
        var total = 0
        var tooLarge = false
        var currentName: String?
        var currentField: String?
        /// Parts without a file name (form fields), at most 16 KiB each, at most `maxFields` of them.
        var fields: [String: [UInt8]] = [:]
    }

    /// Form fields kept beside the files (more are ignored), and what the whole body may hold beyond the files' limit
    /// (part headers, fields).
    static let maxFields = 16
    static let overhead = 256 * 1024

    /// The parser handed to the blocking pool; `@unchecked Sendable`: it is used by one chunk's work at a time.
    final class Feed: @unchecked Sendable {
        let parser: MultipartParser
        init(parser: MultipartParser) { self.parser = parser }
    }

    static func receive(_ body: RequestBody, boundary: String, field: String, directory: String, limit: Int) async throws -> [(String, String)] {
        try await receiveWithFields(body, boundary: boundary, field: field, directory: directory, limit: limit).files
    }

    /// The files of `field`, and the form's other fields as text.
    static func receiveWithFields(
        _ body: RequestBody,
        boundary: String,
        field: String,
        directory: String,
        limit: Int,
        maxFiles: Int = 20
    ) async throws -> (files: [(String, String)], fields: [String: String]) {
        let parser = MultipartParser(boundary: boundary)
        let sink = Sink()
        parser.onHeader = { name, value in
            guard name.lowercased() == "content-disposition" else { return }
            for item in value.split(separator: ";") {
                let kv = item.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                guard kv.count == 2 else { continue }
                let v = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                if kv[0] == "name" { sink.currentField = v }
                if kv[0] == "filename" { sink.currentName = v }
            }
        }
        parser.onBody = { buffer in
            if sink.currentName == nil, let name = sink.currentField, name != field {
                guard sink.fields[name] != nil || sink.fields.count < maxFields else { return }
                var value = sink.fields[name] ?? []
                if value.count + buffer.readableBytes <= 16 * 1024, let bytes = buffer.readBytes(length: buffer.readableBytes) { value += bytes }
                sink.fields[name] = value
                return
            }
            guard sink.currentField == field, !sink.tooLarge else { return }
            if sink.handle == nil && sink.files.count >= maxFiles { return }
            if sink.handle == nil {
                let name = OfficeController.safeName(((sink.currentName ?? "upload") as NSString).lastPathComponent)
                // a name of its own (two uploads in the same millisecond never share a file), created new and private
                let path = directory + "/" + UUID().uuidString.lowercased() + "-" + name
                let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
                guard fd >= 0 else { return }
                sink.handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
                sink.files.append((path, sink.currentName ?? name))
            }
            sink.total += buffer.readableBytes
            if sink.total > limit {
                sink.tooLarge = true
                return
            }
            if let bytes = buffer.readBytes(length: buffer.readableBytes) { sink.handle?.write(Data(bytes)) }
        }
        parser.onPartComplete = {
            try? sink.handle?.close()
            sink.handle = nil
            sink.currentField = nil
            sink.currentName = nil
        }
        // the parser writes the files: on NIO's blocking pool, one chunk after the other, never on the event loop
        let feed = Feed(parser: parser)
        var received = 0
        do {
            for try await chunk in body {
                // every byte of the body counts, not only the files' (fields, part headers, parts that are ignored)
                received += chunk.readableBytes
                if received > limit + overhead { sink.tooLarge = true }
                guard !sink.tooLarge else { break }
                try await NIOThreadPool.singleton.runIfActive { try feed.parser.execute(chunk) }
                if sink.tooLarge { break }
            }
        } catch {
            // a client gone mid-upload, or a body that is no multipart: nothing of it stays on disk
            try? sink.handle?.close()
            for f in sink.files { try? FileManager.default.removeItem(atPath: f.path) }
            if error is HTTPError { throw error }
            throw HTTPError(.badRequest, message: "the upload is not a valid multipart/form-data body")
        }
        try? sink.handle?.close()
        if sink.tooLarge {
            for f in sink.files { try? FileManager.default.removeItem(atPath: f.path) }
            throw HTTPError(.contentTooLarge, message: "upload larger than \(limit) bytes")
        }
        return (sink.files.map { ($0.path, $0.name) }, sink.fields.mapValues { String(decoding: $0, as: UTF8.self) })
    }
}

/// The console's uploads in processing: per job its files, how many records each has read, and each file's summary
/// line once done. Kept in memory (the 50 newest jobs); a restart loses the display, not the import (the audit log and
/// the start page have its result).
final class UploadJobs: Sendable {
    struct File: Sendable {
        var name: String
        var records = 0
        var line: String?
        var problems: [String] = []
        var rejectsFile: String?
        var rejectRows: [(line: String, reason: String)] = []
    }

    struct Job: Sendable {
        var kind: String
        var files: [File]
        var started: Double
        var done: Bool { files.allSatisfy { $0.line != nil } }
    }

    private let jobs = Mutex<[String: Job]>([:])

    func start(kind: String, files: [String]) -> String {
        let (a, b) = CSRF.random.next()
        let id = String(format: "%016llx%016llx", a, b)
        jobs.withLock { all in
            if all.count >= 50, let oldest = all.min(by: { $0.value.started < $1.value.started })?.key { all[oldest] = nil }
            all[id] = Job(kind: kind, files: files.map { File(name: $0) }, started: Date().timeIntervalSince1970)
        }
        return id
    }

    func progress(_ id: String, file: Int, records: Int) {
        jobs.withLock { $0[id]?.files[file].records = records }
    }

    func finished(_ id: String, file: Int, line: String, problems: [String]) {
        jobs.withLock {
            $0[id]?.files[file].line = line
            $0[id]?.files[file].problems = problems
        }
    }

    func rejects(_ id: String, file: Int, name: String, rows: [(line: String, reason: String)]) {
        jobs.withLock {
            $0[id]?.files[file].rejectsFile = name
            $0[id]?.files[file].rejectRows = rows
        }
    }

    func job(_ id: String) -> Job? { jobs.withLock { $0[id] } }
}
