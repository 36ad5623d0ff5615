import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import LotseCore
import LotseQR
import LotseStorage
import LotseTokens
import NIOCore

/// The pages a motorist sees: start page and lookup, the case summary, the GiroCode, /verify.
struct MotoristController: Sendable {
    let env: WebEnvironment
    let limiter = RateLimiter(capacity: 10, per: 600)
    static let langCookie = "lotse_lang"

    func register(on router: Router<LotseContext>) {
        router.get("/") { req, _ in try start(req) }
        router.post("/lookup") { req, ctx in try await lookup(req, ctx) }
        router.get("/verify") { req, _ in try page(req, template: "verify", extra: [:]) }
        for prefix in ["T", "t"] {
            router.get("/\(prefix)/:token") { req, ctx in try casePage(req, ctx) }
            router.head("/\(prefix)/:token") { req, ctx in try casePage(req, ctx) }
            router.get("/\(prefix)/:token/girocode.svg") { req, ctx in try giroCode(req, ctx, png: false) }
            router.get("/\(prefix)/:token/girocode.png") { req, ctx in try giroCode(req, ctx, png: true) }
        }
    }

    // MARK: language and common context

    func language(_ req: Request) -> (lang: String, remember: Bool) {
        let query = req.uri.queryParameters.get("lang")
        let lang = env.translations.negotiate(query: query, cookie: req.cookies[Self.langCookie]?.value,
                                              acceptLanguage: req.headers[.acceptLanguage])
        return (lang, query != nil && query?.lowercased() == lang)
    }

    /// Values every template gets: texts, language, switch links, city.
    func base(_ lang: String, path: String) -> [String: Any] {
        let others: [[String: Any]] = env.translations.languages.filter { $0 != lang }.map {
            ["code": $0, "name": env.translations.text("language_name", $0), "href": path + "?lang=" + $0]
        }
        return ["t": env.translations.table(lang), "lang": lang, "otherLanguages": others, "city": env.config.cityName,
                "baseURL": env.config.publicBaseURL, "title": env.translations.text("site_name", lang)]
    }

    func render(_ template: String, _ context: [String: Any], lang: String, remember: Bool,
                status: HTTPResponse.Status = .ok, csrf: (String, Bool)? = nil, noStore: Bool = false) throws -> HTML {
        guard let body = env.templates.render(context, withTemplate: template) else {
            throw HTTPError(.internalServerError)
        }
        var headers: HTTPFields = [:]
        headers[.contentLanguage] = lang
        headers[.vary] = "Accept-Language, Cookie"
        if noStore { headers[.cacheControl] = "no-store" }
        let secure = env.config.publicBaseURL.lowercased().hasPrefix("https://")
        if remember {
            headers.append(HTTPField(name: .setCookie, value: Cookie(name: Self.langCookie, value: lang, maxAge: 365 * 86400,
                                                                      path: "/", secure: secure, httpOnly: true, sameSite: .lax).description))
        }
        if let (value, isNew) = csrf, isNew {
            headers.append(HTTPField(name: .setCookie, value: Cookie(name: CSRF.cookie, value: value, path: "/", secure: secure,
                                                                      httpOnly: true, sameSite: .strict).description))
        }
        return HTML(body: body, status: status, headers: headers)
    }

    func page(_ req: Request, template: String, extra: [String: Any]) throws -> HTML {
        let (lang, remember) = language(req)
        var ctx = base(lang, path: req.uri.path)
        ctx.merge(extra) { _, new in new }
        return try render(template, ctx, lang: lang, remember: remember)
    }

    // MARK: start page and lookup

    func start(_ req: Request, message: String? = nil, status: HTTPResponse.Status = .ok, number: String = "") throws -> HTML {
        let (lang, remember) = language(req)
        let csrf = CSRF.token(req)
        var ctx = base(lang, path: "/")
        ctx["csrf"] = csrf.value
        ctx["number"] = number
        if let m = message { ctx["message"] = env.translations.text(m, lang) }
        return try render("start", ctx, lang: lang, remember: remember, status: status, csrf: csrf)
    }

    func lookup(_ req: Request, _ context: LotseContext) async throws -> HTML {
        let body = try await req.body.collect(upTo: 16 * 1024)
        let form = Form.decode(String(buffer: body))
        guard CSRF.verify(req, formValue: form["csrf"]) else {
            return try start(req, message: "error_form_expired", status: .forbidden)
        }
        let client = context.remoteAddress?.ipAddress ?? "unknown"
        guard limiter.allow(client) else {
            return try start(req, message: "error_too_many", status: .tooManyRequests)
        }
        let number = (form["case_number"] ?? "").trimmingSpaces()
        let plate = Plate.key(form["plate"] ?? "")
        let found: CaseRecord? = number.isEmpty || plate.isEmpty ? nil : try env.store.read { db in
            try CaseQueries.byNumber(db, number)
        }
        guard let c = found, Plate.key(c.plate) == plate, c.status != .cancelled else {
            // the same answer whether the number or the plate was wrong
            return try start(req, message: "lookup_not_found", status: .ok, number: number)
        }
        let (lang, _) = language(req)
        let location = "/T/" + env.tokens.token(caseID: c.id) + "?lang=" + lang
        return HTML(body: "", status: .seeOther, headers: [.location: location])
    }

    // MARK: the case page

    func verifiedCase(_ ctx: LotseContext) throws -> CaseRecord? {
        guard let token = ctx.parameters.get("token"), let id = env.tokens.verify(token) else { return nil }
        return try env.store.read { try CaseQueries.byID($0, id) }
    }

    func notFound(_ req: Request) throws -> HTML {
        let (lang, _) = language(req)
        return try render("notfound", base(lang, path: "/"), lang: lang, remember: false, status: .notFound)
    }

    /// Link-preview bots and crawlers do not count as a scan (the user agent is only looked at, never stored).
    static func isBot(_ ua: String?) -> Bool {
        guard let ua = ua?.lowercased() else { return false }
        return ["bot", "crawler", "spider", "preview", "facebookexternalhit", "whatsapp", "slack", "telegram",
                "discord", "skypeuripreview", "embedly", "curl/", "wget"].contains { ua.contains($0) }
    }

    func casePage(_ req: Request, _ context: LotseContext) throws -> HTML {
        guard let c = try verifiedCase(context) else { return try notFound(req) }
        let (lang, remember) = language(req)
        if req.method == .get && !Self.isBot(req.headers[.userAgent]) {
            env.recorder.record(caseID: c.id, kind: "page_viewed", detail: "lang=" + lang)
        }
        let t = env.translations
        var ctx = base(lang, path: req.uri.path)
        let local = BerlinTime.local(c.issuedAt)
        let deadline = CivilDate(iso: c.deadline)
        ctx["case"] = [
            "number": c.caseNumber,
            "date": t.date(local.date, lang),
            "time": local.clock,
            "place": c.place,
            "offence": c.offenceText,
            "tbnr": c.tbnr,
            "amount": Money.display(c.amountCents, language: lang),
            "deadline": deadline.map { t.date($0, lang) } ?? c.deadline,
            "plate": Plate.masked(c.plate),
        ] as [String: Any]
        let today = BerlinTime.local(Int64(Date().timeIntervalSince1970)).date
        let pastDeadline = deadline.map { today > $0 } ?? false
        var status: [String: Any] = ["code": c.status.rawValue]
        switch c.status {
        case .open where pastDeadline:
            status["text"] = t.text("status_past_deadline", lang)
        case .open:
            status["text"] = t.text("status_open", lang)
        case .overdue:
            status["text"] = t.text("status_overdue", lang)
        case .reminded:
            status["text"] = t.text("status_reminded", lang)
        case .paid:
            let paidAt = c.paidAt
            status["text"] = t.text("status_paid", lang).replacingOccurrences(
                of: "{date}", with: paidAt.map { t.date(BerlinTime.local($0).date, lang) } ?? "")
        case .cancelled:
            status["text"] = t.text("status_cancelled", lang)
        }
        ctx["status"] = status
        if let n = req.uri.queryParameters.get("notice"), Self.notices.contains(n) {
            ctx["notice"] = t.text("notice_" + n, lang)
        }
        if c.status == .paid { ctx["receiptURL"] = "/T/" + env.tokens.token(caseID: c.id) + "/receipt" }
        let payable = c.status == .open || c.status == .overdue || c.status == .reminded
        if payable {
            var pay: [String: Any] = ["paypal": env.provider != nil]
            if let payee = env.payee, let ref = RFReference.make(from: c.caseNumber) {
                pay["bank"] = ["name": payee.name, "iban": payee.ibanGrouped, "bic": payee.bic,
                               "reference": Self.grouped(ref), "amount": Money.display(c.amountCents, language: lang),
                               "girocode": req.uri.path + "/girocode.svg"] as [String: Any]
            }
            ctx["pay"] = pay
        }
        let csrf = CSRF.token(req)
        ctx["csrf"] = csrf.value
        ctx["payAction"] = "/T/" + (context.parameters.get("token") ?? "").uppercased() + "/pay"
        ctx["title"] = c.caseNumber
        return try render("case", ctx, lang: lang, remember: remember, csrf: csrf, noStore: true)
    }

    /// `RF18 5390 0754 7034` for reading aloud and typing.
    static func grouped(_ s: String) -> String {
        var out = ""
        for (i, ch) in s.enumerated() {
            if i > 0 && i % 4 == 0 { out.append(" ") }
            out.append(ch)
        }
        return out
    }

    /// The EPC QR code as SVG (for the page) or PNG (for letters).
    func giroCode(_ req: Request, _ context: LotseContext, png: Bool) throws -> Response {
        guard let c = try verifiedCase(context), let payee = env.payee,
              c.status == .open || c.status == .overdue || c.status == .reminded,
              let ref = RFReference.make(from: c.caseNumber) else {
            return try notFound(req).response(from: req, context: context)
        }
        let payload = try GiroCode.payload(payee: payee, amountCents: c.amountCents, reference: ref,
                                           note: "Verwarnungsgeld " + c.caseNumber)
        let code = try QRCode(bytes: Array(payload.utf8), level: .M)
        return Response(status: .ok, headers: [.contentType: png ? "image/png" : "image/svg+xml", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: png ? code.png(moduleSize: 6) : code.svg(moduleSize: 4))))
    }
}
