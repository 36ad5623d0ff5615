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
    let caseTemplates = CompiledTemplates<CasePage.Shape>()
    /// Cookies carry `Secure` when the public base URL is https.
    let secureCookies: Bool

    init(env: WebEnvironment) {
        self.env = env
        secureCookies = env.config.publicBaseURL.lowercased().hasPrefix("https://")
    }
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
        return HTML(body: body, status: status, headers: pageHeaders(lang: lang, remember: remember, csrf: csrf, noStore: noStore))
    }

    func pageHeaders(lang: String, remember: Bool, csrf: (String, Bool)? = nil, noStore: Bool = false) -> HTTPFields {
        var headers: HTTPFields = [:]
        headers[.contentLanguage] = lang
        headers[.vary] = "Accept-Language, Cookie"
        if noStore { headers[.cacheControl] = "no-store" }
        let secure = secureCookies
        if remember {
            headers.append(HTTPField(name: .setCookie, value: Cookie(name: Self.langCookie, value: lang, maxAge: 365 * 86400,
                                                                      path: "/", secure: secure, httpOnly: true, sameSite: .lax).description))
        }
        if let (value, isNew) = csrf, isNew {
            headers.append(HTTPField(name: .setCookie, value: Cookie(name: CSRF.cookie, value: value, path: "/", secure: secure,
                                                                      httpOnly: true, sameSite: .strict).description))
        }
        return headers
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
        return try env.store.readStatement { try CaseQueries.byID($0, id) }
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
        let notice = req.uri.queryParameters.get("notice").flatMap { Self.notices.contains($0) ? $0 : nil }
        // the CSRF cookie only where the page has a form (the PayPal button)
        let csrf = env.provider != nil && c.status.isPayable ? CSRF.token(req) : nil
        let page = casePageValues(c, lang: lang, path: req.uri.path, notice: notice, csrf: csrf?.value ?? "",
                                  token: context.parameters.get("token") ?? "")
        let compiled = try caseTemplates.get(page.shape) {
            try CompiledTemplate(library: env.templates, template: "case",
                                 context: caseContext(page.shape) { CompiledTemplate.marker($0.rawValue) })
        }
        return HTML(buffer: compiled.render(page.values), headers: pageHeaders(lang: lang, remember: remember, csrf: csrf, noStore: true))
    }

    /// What the case page shows: the shape (language, which parts) and the values of its slots.
    func casePageValues(_ c: CaseRecord, lang: String, path: String, notice: String?, csrf: String, token: String,
                        now: Int64 = Int64(Date().timeIntervalSince1970)) -> CasePage {
        let t = env.translations
        let local = BerlinTime.local(c.issuedAt)
        let deadline = CivilDate(iso: c.deadline)
        let today = BerlinTime.local(now).date
        let pastDeadline = deadline.map { today > $0 } ?? false
        let statusText: String
        switch c.status {
        case .open where pastDeadline: statusText = t.text("status_past_deadline", lang)
        case .open: statusText = t.text("status_open", lang)
        case .overdue: statusText = t.text("status_overdue", lang)
        case .reminded: statusText = t.text("status_reminded", lang)
        case .paid:
            statusText = t.text("status_paid", lang).replacingOccurrences(
                of: "{date}", with: c.paidAt.map { t.date(BerlinTime.local($0).date, lang) } ?? "")
        case .cancelled: statusText = t.text("status_cancelled", lang)
        }
        let payable = c.status.isPayable
        let ref = env.payee == nil ? nil : RFReference.make(from: c.caseNumber)
        let amount = Money.display(c.amountCents, language: lang)
        var page = CasePage(shape: .init(lang: lang, notice: notice != nil, receipt: c.status == .paid, pay: payable,
                                         paypal: env.provider != nil, bank: payable && ref != nil,
                                         bic: !(env.payee?.bic.isEmpty ?? true)))
        page[.path] = path
        page[.number] = c.caseNumber
        page[.date] = t.date(local.date, lang)
        page[.time] = local.clock
        page[.place] = c.place
        page[.offence] = c.offenceText
        page[.tbnr] = c.tbnr
        page[.amount] = amount
        page[.deadline] = deadline.map { t.date($0, lang) } ?? c.deadline
        page[.plate] = Plate.masked(c.plate)
        page[.statusCode] = c.status.rawValue
        page[.statusText] = statusText
        if let n = notice { page[.notice] = t.text("notice_" + n, lang) }
        if c.status == .paid { page[.receiptURL] = "/T/" + env.tokens.token(caseID: c.id) + "/receipt" }
        page[.payAction] = "/T/" + token.uppercased() + "/pay"
        page[.csrf] = csrf
        if let payee = env.payee, let ref {
            page[.bankName] = payee.name
            page[.iban] = payee.ibanGrouped
            page[.bic] = payee.bic
            page[.reference] = Self.grouped(ref)
            page[.girocode] = path + "/girocode.svg"
        }
        return page
    }

    /// The mustache context of the case page; `value` gives each slot's value (or its marker when compiling).
    func caseContext(_ shape: CasePage.Shape, value v: (CasePage.Slot) -> String) -> [String: Any] {
        var ctx = base(shape.lang, path: v(.path))
        ctx["case"] = [
            "number": v(.number), "date": v(.date), "time": v(.time), "place": v(.place), "offence": v(.offence),
            "tbnr": v(.tbnr), "amount": v(.amount), "deadline": v(.deadline), "plate": v(.plate),
        ] as [String: Any]
        ctx["status"] = ["code": v(.statusCode), "text": v(.statusText)]
        if shape.notice { ctx["notice"] = v(.notice) }
        if shape.receipt { ctx["receiptURL"] = v(.receiptURL) }
        if shape.pay {
            var pay: [String: Any] = ["paypal": shape.paypal]
            if shape.bank {
                var bank: [String: Any] = ["name": v(.bankName), "iban": v(.iban), "reference": v(.reference),
                                           "amount": v(.amount), "girocode": v(.girocode)]
                if shape.bic { bank["bic"] = v(.bic) }
                pay["bank"] = bank
            }
            ctx["pay"] = pay
        }
        ctx["csrf"] = v(.csrf)
        ctx["payAction"] = v(.payAction)
        ctx["title"] = v(.number)
        return ctx
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
              c.status.isPayable,
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

/// The case page's values, by slot, and its shape.
struct CasePage {
    struct Shape: Hashable, Sendable {
        var lang: String
        var notice, receipt, pay, paypal, bank, bic: Bool
    }

    enum Slot: Int, CaseIterable {
        case path, number, date, time, place, offence, tbnr, amount, deadline, plate, statusCode, statusText, notice,
             receiptURL, payAction, csrf, bankName, iban, bic, reference, girocode
    }

    var shape: Shape
    var values = [String](repeating: "", count: Slot.allCases.count)

    init(shape: Shape) { self.shape = shape }

    subscript(slot: Slot) -> String {
        get { values[slot.rawValue] }
        set { values[slot.rawValue] = newValue }
    }
}
