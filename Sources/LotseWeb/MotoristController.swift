import Foundation
import HTTPTypes
import Hummingbird
import LotseCore
import LotseQR
import LotseStorage
import LotseTokens
import NIOCore
import NIOPosix
import Synchronization

/// Case ids, each taken once per server run.
final class NotedCases: Sendable {
    private let ids = Mutex(Set<Int64>())
    /// True the first time `id` is given.
    func insert(_ id: Int64) -> Bool { ids.withLock { $0.insert(id).inserted } }
}

/// The pages a motorist sees: start page and lookup, the case summary, the GiroCode, /verify.
struct MotoristController: Sendable {
    let env: WebEnvironment
    /// Lookups per client (`TrustedProxies` decides who that is): 10 in 10 minutes.
    let limiter = Budget(capacity: 10, per: 600)
    /// Wrong answers per case number, whoever sends them: 10 in an hour, so that trying plates for a number
    /// stays slow however many addresses are used.
    let numberBudget = Budget(capacity: 10, per: 3600)
    let caseTemplates = CompiledTemplates<CasePage.Shape>()
    let caseValues = CaseValuesCache()
    /// Cases whose export differs from their ticket token, noted in this run (`noteDifferences`).
    let notedDifferences = NotedCases()
    /// Provisional cases opened per client (a stolen device key must not open cases without end): 10 an hour.
    let provisionalBudget = Budget(capacity: 10, per: 3600)
    /// The language cookie's header field per language, built once (`Secure` when the public base URL is https).
    let langCookies: [String: HTTPField]
    /// The CSRF cookie's header value around its value, built once.
    let csrfCookie: (prefix: String, suffix: String)
    /// The signed values of the motorist's forms (they work without cookies).
    let formTokens: FormTokens
    /// The verification codes of the confirmations of payment, of the key ring as it is now (it follows a rotation
    /// without a restart; every key of the ring verifies, so a confirmation printed before a rotation stays genuine).
    var receiptCodes: ReceiptCodes { ReceiptCodes(ring: env.tokens.ring) }

    init(env: WebEnvironment) {
        self.env = env
        formTokens = FormTokens(secrets: env.tokens.ring.keys.map(\.secret))
        let secure = env.config.publicBaseURL.lowercased().hasPrefix("https://")
        var fields: [String: HTTPField] = [:]
        for lang in env.translations.languages {
            fields[lang] = HTTPField(
                name: .setCookie,
                value: Cookie(
                    name: Self.langCookie,
                    value: lang,
                    maxAge: 365 * 86400,
                    path: "/",
                    secure: secure,
                    httpOnly: true,
                    sameSite: .lax
                ).description
            )
        }
        langCookies = fields
        // the cookie's text with a stand-in value (letters only: Cookie checks them), cut around it
        let standIn = "CSRFVALUE"
        let csrf = Cookie(name: CSRF.cookie, value: standIn, path: "/", secure: secure, httpOnly: true, sameSite: .strict).description
        let cut = csrf.range(of: "=" + standIn)!
        csrfCookie = (String(csrf[..<cut.lowerBound]) + "=", String(csrf[cut.upperBound...]))
    }
    static let langCookie = "lotse_lang"

    func register(on router: Router<LotseContext>) {
        router.get("/") { req, _ in try start(req) }
        router.post("/lookup") { req, ctx in try await lookup(req, ctx) }
        router.get("/verify") { req, ctx in try await verify(req, ctx) }
        for prefix in ["T", "t"] {
            router.get("/\(prefix)/:token") { req, ctx in try await casePage(req, ctx) }
            router.head("/\(prefix)/:token") { req, ctx in try await casePage(req, ctx) }
            router.get("/\(prefix)/:token/girocode.svg") { req, ctx in try await giroCode(req, ctx, png: false) }
            router.get("/\(prefix)/:token/girocode.png") { req, ctx in try await giroCode(req, ctx, png: true) }
            router.get("/\(prefix)/:token/photo/:n") { req, ctx in try await photo(req, ctx) }
        }
    }

    // MARK: language and common context

    /// The language of the page: the reader's choice where `part` is offered in it (`Translations.language(_:for:)`).
    func language(_ req: Request, for part: Translations.Part = .motorist) -> (lang: String, remember: Bool) {
        let query = req.uri.queryParameters.get("lang")
        let chosen = env.translations.negotiate(
            query: query,
            cookie: req.cookies[Self.langCookie]?.value,
            acceptLanguage: req.headers[.acceptLanguage]
        )
        let lang = part == .motorist ? chosen : env.translations.language(chosen, for: part)
        return (lang, query != nil && query?.lowercased() == lang)
    }

    /// Values every template gets: texts, language and its direction, switch links (to the languages `part` is offered
    /// in), city.
    func base(_ lang: String, path: String, part: Translations.Part = .motorist) -> [String: Any] {
        let others: [[String: Any]] = env.translations.languages(for: part).filter { $0 != lang }.map {
            ["code": $0, "name": env.translations.text("language_name", $0), "href": path + "?lang=" + $0]
        }
        return [
            "t": env.translations.table(lang), "lang": lang, "rtl": env.translations.direction(lang) == "rtl", "otherLanguages": others,
            "city": env.config.cityName, "baseURL": env.config.publicBaseURL,
        ]
    }

    func render(
        _ template: String,
        _ context: [String: Any],
        lang: String,
        remember: Bool,
        status: HTTPResponse.Status = .ok,
        csrf: (String, Bool)? = nil,
        noStore: Bool = false
    ) throws -> HTML {
        guard let body = env.templates.render(context, withTemplate: template) else {
            throw HTTPError(.internalServerError)
        }
        return HTML(body: body, status: status, headers: pageHeaders(lang: lang, remember: remember, csrf: csrf, noStore: noStore))
    }

    func pageHeaders(lang: String, remember: Bool, csrf: (String, Bool)? = nil, noStore: Bool = false) -> HTTPFields {
        var headers: HTTPFields = [:]
        headers[.contentLanguage] = lang
        headers[.vary] = "Accept-Language, Cookie, Accept-Encoding"
        if noStore { headers[.cacheControl] = "no-store" }
        if remember, let cookie = langCookies[lang] { headers.append(cookie) }
        if let (value, isNew) = csrf, isNew {
            headers.append(HTTPField(name: .setCookie, value: csrfCookie.prefix + value + csrfCookie.suffix))
        }
        return headers
    }

    /// What a motorist's form that posts to `action` carries: the CSRF cookie's value when the browser sent one, else a
    /// signed value (`FormTokens`), so that the form works with cookies blocked. The cookie is offered as before.
    func form(_ req: Request, action: String) -> (value: String, cookie: (String, Bool)) {
        let cookie = CSRF.token(req)
        return (cookie.isNew ? formTokens.make(action: action) : cookie.value, cookie)
    }

    /// Whether a motorist's form posted to `action` is one of ours: the double-submit cookie, or the signed value.
    func formIsGenuine(_ req: Request, _ value: String?, action: String) -> Bool {
        CSRF.verify(req, formValue: value) || formTokens.verify(value, action: action)
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
        let form = form(req, action: "/lookup")
        var ctx = base(lang, path: "/")
        ctx["csrf"] = form.value
        ctx["number"] = number
        if let m = message { ctx["message"] = env.translations.text(m, lang) }
        return try render("start", ctx, lang: lang, remember: remember, status: status, csrf: form.cookie)
    }

    func lookup(_ req: Request, _ context: LotseContext) async throws -> HTML {
        let body = try await req.body.collect(upTo: 16 * 1024)
        let form = Form.decode(String(buffer: body))
        guard formIsGenuine(req, form["csrf"], action: "/lookup") else {
            return try start(req, message: "error_form_expired", status: .forbidden)
        }
        let client = env.proxies.client(req, context)
        guard limiter.take(client) else {
            return try start(req, message: "error_too_many", status: .tooManyRequests)
        }
        let number = (form["case_number"] ?? "").trimmingSpaces()
        let compact = CaseNumber.compact(number)
        let plate = Plate.key(form["plate"] ?? "")
        guard numberBudget.hasToken(compact) else {
            return try start(req, message: "error_too_many", status: .tooManyRequests)
        }
        // one index search, off the event loop, for hits and misses alike (no answer says more by its time)
        let found: CaseRecord? = compact.isEmpty || plate.isEmpty ? nil : try await env.store.lookupCase(compact: compact)
        // a cancelled case is found too: its page says that nothing is to be paid (an erased one has no plate left)
        guard let c = found, !plate.isEmpty, Plate.key(c.plate) == plate else {
            _ = numberBudget.take(compact)
            // the same answer whether the number or the plate was wrong
            return try start(req, message: "lookup_not_found", status: .ok, number: number)
        }
        let (lang, _) = language(req)
        let location = "/T/" + env.tokens.token(caseID: c.id) + "?lang=" + lang
        return HTML(body: "", status: .seeOther, headers: [.location: location])
    }

    // MARK: the case page

    /// `cached`: from the case cache (pages); false reads the database (before acting on a payment).
    func verifiedCase(_ ctx: LotseContext, cached: Bool = true) async throws -> CaseRecord? {
        try await verifiedCase(token: ctx.parameters.get("token") ?? "", cached: cached)
    }

    /// The case a token names, or nil when the token is forged or the case unknown. Reads on GRDB's threads,
    /// never on the caller's (an event loop).
    func verifiedCase(token: String, cached: Bool = true) async throws -> CaseRecord? {
        if token.utf8.count == TicketTokens.textLength {
            if case .imported(let c) = try await ticketTarget(token, cached: cached) { return c }
            return nil
        }
        guard let id = env.tokens.verify(token) else { return nil }
        if cached { return try await env.caseCache.recordAsync(id: id) }
        return try await env.store.caseRecord(id: id)
    }

    /// How to tell a genuine ticket; with `?code=`, whether a confirmation of payment is genuine (the code on the
    /// receipt, `ReceiptCodes`). Tries count against the lookup's budget per client, so codes cannot be guessed fast.
    func verify(_ req: Request, _ context: LotseContext) async throws -> HTML {
        let (lang, remember) = language(req)
        let t = env.translations
        var ctx = base(lang, path: "/verify")
        guard let code = req.uri.queryParameters.get("code").map({ String($0) }), !code.trimmingSpaces().isEmpty else {
            return try render("verify", ctx, lang: lang, remember: remember)
        }
        ctx["code"] = code
        guard limiter.take(env.proxies.client(req, context)) else {
            ctx["checked"] = ["genuine": false, "text": t.text("error_too_many", lang)] as [String: Any]
            return try render("verify", ctx, lang: lang, remember: remember, status: .tooManyRequests, noStore: true)
        }
        var genuine = false
        var found: CaseRecord?
        let codes = receiptCodes  // the keys of the ring as it is now, derived once for this request
        if let id = codes.caseID(of: code) { found = try await env.store.caseRecord(id: id) }
        if let c = found, c.status == CaseStatus.paid, let paidAt = c.paidAt {
            let payment = ReceiptCodes.Payment(caseID: c.id, caseNumber: c.caseNumber, amountCents: c.amountCents, paidAt: paidAt)
            if codes.verify(code, payment) {
                genuine = true
                ctx["checked"] =
                    [
                        "genuine": true,
                        "text": t.text("verify_genuine", lang).replacingOccurrences(of: "{number}", with: c.caseNumber)
                            .replacingOccurrences(of: "{amount}", with: Money.display(c.amountCents, language: lang))
                            .replacingOccurrences(of: "{date}", with: t.date(BerlinTime.local(paidAt).date, lang)),
                    ] as [String: Any]
            }
        }
        if !genuine { ctx["checked"] = ["genuine": false, "text": t.text("verify_not_genuine", lang)] as [String: Any] }
        return try render("verify", ctx, lang: lang, remember: remember, noStore: true)
    }

    func notFound(_ req: Request) throws -> HTML {
        let (lang, _) = language(req)
        return try render("notfound", base(lang, path: "/"), lang: lang, remember: false, status: .notFound)
    }

    /// Link-preview bots and crawlers do not count as a scan (the user agent is only looked at, never stored).
    static func isBot(_ ua: String?) -> Bool {
        guard let ua = ua?.lowercased() else { return false }
        return [
            "bot", "crawler", "spider", "preview", "facebookexternalhit", "whatsapp", "slack", "telegram",
            "discord", "skypeuripreview", "embedly", "curl/", "wget",
        ].contains { ua.contains($0) }
    }

    func casePage(_ req: Request, _ context: LotseContext) async throws -> HTML {
        let token = context.parameters.get("token") ?? ""
        if token.utf8.count == TicketTokens.textLength {
            switch try await ticketTarget(token) {
            case .imported(let c): return try casePage(req, case: c, token: token)
            case .pending(let claim, let device): return try pendingPage(req, claim: claim, device: device, token: token)
            case .refused: return try notFound(req)
            }
        }
        guard let c = try await verifiedCase(token: token) else { return try notFound(req) }
        return try casePage(req, case: c, token: token)
    }

    // MARK: ticket tokens (formats §2b)

    /// Where a version 2 token leads.
    enum TicketTarget {
        /// The imported ticket's case.
        case imported(CaseRecord)
        /// Genuine, but the export has not been imported yet: the page shows what the token signs.
        case pending(TicketClaim, DeviceRecord)
        /// Forged or altered (no database read), of a device not enrolled here, or of a revoked generation with a
        /// time after the revocation (a stock code of a revoked generation: unless its ticket was imported).
        case refused
    }

    func ticketTarget(_ token: String, cached: Bool = true) async throws -> TicketTarget {
        guard let claim = env.tokens.verifyTicket(token) else { return .refused }
        let found = try await env.store.ticket(
            deviceNumber: Int(claim.deviceNumber),
            generation: Int(claim.generation),
            ticketNumber: claim.ticketNumber
        )
        guard let device = found.device, device.keyID == Int(claim.keyID) else { return .refused }
        if let revokedAt = device.revokedAt {
            if let issuedAt = claim.issuedAt, issuedAt > revokedAt { return .refused }
            if claim.isStock && found.caseID == nil { return .refused }
        }
        guard let id = found.caseID else { return .pending(claim, device) }
        let record = cached ? try await env.caseCache.recordAsync(id: id) : try await env.store.caseRecord(id: id)
        guard let record else { return .refused }
        noteDifferences(claim, record)
        return .imported(record)
    }

    /// The export wins where it disagrees with what the token signs; the office sees the difference in the case's
    /// history (`lotse case`): one `ticket_differs` event per case and server run.
    func noteDifferences(_ claim: TicketClaim, _ c: CaseRecord) {
        guard !c.isProvisional, let issuedAt = claim.issuedAt, let tbnr = claim.tbnrText else { return }
        let differences = TicketDifferences.between(
            signed: (tbnr: tbnr, amountCents: Int(claim.amountCents), issuedAt: issuedAt),
            exported: (tbnr: c.tbnr, amountCents: c.amountCents, issuedAt: c.issuedAt)
        )
        guard !differences.isEmpty, notedDifferences.insert(c.id) else { return }
        // once per case, whatever the number of scans and restarts (the import noted it already for a case paid
        // before its export): written off the request, a failure only logged
        let (store, logger) = (env.store, env.logger)
        Task {
            do {
                try await store.addEventOnce(caseID: c.id, kind: .ticketDiffers, at: Int64(Date().timeIntervalSince1970), detail: differences)
            } catch {
                logger.error("could not note a ticket's differences: \(error)")
            }
        }
    }

    /// What a genuine token of a ticket not yet imported signs, when the ticket can be paid online with it: not a
    /// stock code; of a device not revoked; issued in the last `LOTSE_PENDING_DAYS` (and not in the future); its TBNR
    /// in the catalogue with the amount the token signs (a token signing another amount pays by transfer only).
    func signedTicket(_ claim: TicketClaim, device: DeviceRecord, now: Int64 = Int64(Date().timeIntervalSince1970)) -> SignedTicket? {
        guard device.revokedAt == nil, let issuedAt = claim.issuedAt, let tbnr = claim.tbnrText,
            let offence = env.catalogue?.offences[tbnr], offence.amountCents == Int(claim.amountCents), offence.amountCents > 0,
            offence.amountCents <= Catalogue.warningFineCeilingCents,
            issuedAt >= now - Int64(env.config.pendingDays) * 86400, issuedAt <= now + 86400
        else { return nil }
        return SignedTicket(
            deviceID: device.deviceID,
            ticketNumber: claim.ticketNumber,
            issuedAt: issuedAt,
            amountCents: Int(claim.amountCents),
            offence: offence
        )
    }

    /// The page of a genuine ticket whose export has not been imported: what the token signs (ticket number,
    /// device, time, offence, amount, the deadline that follows), that the full record follows, and the bank
    /// transfer with the ticket's reference. A stock code signs only the ticket number: no amount is shown.
    func pendingPage(_ req: Request, claim: TicketClaim, device: DeviceRecord, token: String) throws -> HTML {
        let (lang, remember) = language(req)
        let t = env.translations
        var context = base(lang, path: req.uri.path)
        var ticket: [String: Any] = [
            "number": String(claim.ticketNumber),
            "device": device.deviceID,
            "status": t.text(claim.isStock ? "pending_stock_status" : "pending_status", lang),
            "follows": t.text(claim.isStock ? "pending_stock_follows" : "pending_follows", lang),
        ]
        var amount: String?
        if let issuedAt = claim.issuedAt, let tbnr = claim.tbnrText {
            let local = BerlinTime.local(issuedAt)
            ticket["issued"] = ["date": t.date(local.date, lang), "time": local.clock]
            let offence = env.offenceTexts.display(tbnr: tbnr, german: env.catalogue?.offences[tbnr]?.textDE ?? "", lang: lang)
            ticket["offence"] = [
                "text": offence.text, "lang": offence.lang, "tbnr": tbnr,
                "note": offence.fallback ? env.translations.text("offence_german_only", lang) : "",
            ]
            amount = Money.display(Int(claim.amountCents), language: lang)
            ticket["amount"] = ["amount": amount ?? ""]
            ticket["deadline"] = ["deadline": t.date(local.date.adding(days: env.config.paymentDays), lang)]
        }
        context["ticket"] = ticket
        if let payee = env.payee, let reference = RFReference.make(from: CaseNumber.compact(device.deviceID) + String(claim.ticketNumber)) {
            var bank: [String: Any] = [
                "name": payee.name, "iban": payee.ibanGrouped, "reference": Payee.grouped(reference),
                "intro": t.text("pending_bank_intro", lang),
            ]
            if !payee.bic.isEmpty { bank["bic"] = payee.bic }
            if let amount { bank["amount"] = amount }
            context["bank"] = bank
        }
        // online payment opens the ticket's case from what the token signs (`ProvisionalCases`)
        var csrf: (String, Bool)?
        if env.paysOnline, signedTicket(claim, device: device) != nil {
            let action = "/t/" + token.uppercased() + "/pay"
            let form = form(req, action: action)
            csrf = form.cookie
            context["paypal"] =
                [
                    "action": action, "csrf": form.value, "paypal": env.paypal != nil,
                    "epayment": env.epayment.map { ["label": $0.label] } ?? false,
                ] as [String: Any]
        }
        if context["bank"] != nil || context["paypal"] != nil { context["payTitle"] = true }
        return try render("pending", context, lang: lang, remember: remember, csrf: csrf, noStore: true)
    }

    /// The case page of `c`. Used by the router and by `CasePageChannelHandler`, so both give the same page.
    func casePage(_ req: Request, case c: CaseRecord, token: String) throws -> HTML {
        let (lang, remember) = language(req)
        if c.erasedAt != nil {
            // after the retention period: that the case is closed, nothing of its record
            var context = base(lang, path: req.uri.path)
            context["erased"] = ["number": c.caseNumber, "text": env.translations.text("case_erased", lang)]
            return try render("erased", context, lang: lang, remember: remember, noStore: true)
        }
        let notice = req.uri.queryParameters.get("notice").flatMap { Self.notices.contains($0) ? $0 : nil }
        // the CSRF cookie only where the page has a form (the PayPal button)
        let form = env.paysOnline && c.status.isPayable ? form(req, action: "/T/" + token + "/pay") : nil
        let csrf = form?.cookie
        let page = casePageValues(c, lang: lang, path: req.uri.path, notice: notice, csrf: form?.value ?? "", token: token)
        let compiled = try caseTemplates.get(page.shape) {
            try CompiledTemplate(
                library: env.templates,
                template: "case",
                context: caseContext(page.shape) { CompiledTemplate.marker($0.rawValue) }
            )
        }
        let html = HTML(buffer: compiled.render(page.values), headers: pageHeaders(lang: lang, remember: remember, csrf: csrf, noStore: true))
        // recorded once the page is built (an error before this point records nothing)
        if req.method == .get && !Self.isBot(req.headers[.userAgent]) {
            env.recorder.record(caseID: c.id, kind: .pageViewed, detail: "lang=" + lang)
        }
        return html
    }

    /// What the case page shows: the shape (language, which parts) and the values of its slots.
    func casePageValues(
        _ c: CaseRecord,
        lang: String,
        path: String,
        notice: String?,
        csrf: String,
        token: String,
        now: Int64 = Int64(Date().timeIntervalSince1970)
    ) -> CasePage {
        let today = BerlinTime.local(now).date
        var page = caseValues.get(c, lang: lang, day: today) { caseValues(c, lang: lang, today: today) }
        page.shape.notice = notice != nil
        if let n = notice { page[.notice] = env.translations.text("notice_" + n, lang) }
        page[.path] = path
        page[.payAction] = "/T/" + token.uppercased() + "/pay"
        page[.csrf] = csrf
        if page.shape.bank { page[.girocode] = path + "/girocode.svg" }
        return page
    }

    /// The slots that depend only on the case, the language and the day: the same for every view of
    /// the case until it changes (kept in `caseValues`).
    func caseValues(_ c: CaseRecord, lang: String, today: CivilDate) -> CasePage {
        let t = env.translations
        let local = BerlinTime.local(c.issuedAt)
        let deadline = CivilDate(iso: c.deadline)
        let pastDeadline = deadline.map { today > $0 } ?? false
        // what is still to pay (the whole amount unless partial payments arrived)
        let amount = Money.display(c.status.isPayable ? c.dueCents : c.amountCents, language: lang)
        // after a reminder, the motorist has the payment days again from the day it was sent; then the case goes to the
        // Bußgeld procedure (`lotse handover`)
        let reminded = c.remindedAt.map { BerlinTime.local($0).date }
        let reminderDeadline = reminded?.adding(days: env.config.paymentDays)
        let payBy = c.status == .reminded ? (reminderDeadline ?? deadline) : deadline
        func sentence(_ key: String) -> String {
            // one pass over the text; a value is made only when its placeholder is there (the case page's path)
            Translations.fill(t.text(key, lang)) { name in
                switch name {
                case "amount": return amount
                case "deadline": return deadline.map { t.date($0, lang) } ?? c.deadline
                case "reminded": return reminded.map { t.date($0, lang) } ?? ""
                case "reminder_deadline": return reminderDeadline.map { t.date($0, lang) } ?? ""
                case "when": return deadline == today ? t.text("day_today", lang) : t.text("day_tomorrow", lang)
                case "date": return c.paidAt.map { t.date(BerlinTime.local($0).date, lang) } ?? ""
                default: return nil
                }
            }
        }
        // one sentence per state: what happened, what happens next, with the dates that matter
        var statusText: String
        switch c.status {
        case .open where pastDeadline: statusText = sentence("status_past_deadline")
        case .open where deadline.map { $0.daysSinceEpoch - today.daysSinceEpoch <= 1 } ?? false: statusText = sentence("status_due_soon")
        case .open: statusText = sentence("status_open")
        case .overdue: statusText = sentence("status_overdue")
        case .reminded: statusText = sentence(reminded == nil ? "status_reminded_undated" : "status_reminded")
        case .paid: statusText = sentence("status_paid")
        case .cancelled: statusText = sentence("status_cancelled")
        case .handedOver: statusText = sentence("status_handed_over")
        }
        if c.status.isPayable && c.receivedCents > 0 {
            // partly paid: what arrived; the state's sentence then asks for what is still due (so do the GiroCode and PayPal)
            let received = Translations.fill(t.text("status_partly_paid", lang)) { name in
                name == "received"
                    ? Money.display(c.receivedCents, language: lang) : name == "total" ? Money.display(c.amountCents, language: lang) : nil
            }
            statusText = received + " " + statusText
        }
        let payable = c.status.isPayable
        let ref = env.payee == nil ? nil : RFReference.make(from: c.caseNumber)
        var page = CasePage(
            shape: .init(
                lang: lang,
                notice: false,
                receipt: c.status == .paid,
                pay: payable,
                paypal: env.paypal != nil,
                epayment: env.epayment != nil,
                bank: payable && ref != nil,
                bic: !(env.payee?.bic.isEmpty ?? true),
                due: c.status != .cancelled && c.status != .handedOver,
                photos: c.photos
            )
        )
        page[.number] = c.caseNumber
        page[.date] = t.date(local.date, lang)
        page[.time] = local.clock
        page[.place] = c.isProvisional ? t.text("provisional_follows", lang) : c.place
        let offence = env.offenceTexts.display(tbnr: c.tbnr, german: c.offenceText, lang: lang)
        page[.offence] = offence.text
        page[.offenceLang] = offence.lang
        page[.offenceNote] = offence.fallback ? t.text("offence_german_only", lang) : ""
        page[.tbnr] = c.tbnr
        page[.amount] = amount
        page[.deadline] = payBy.map { t.date($0, lang) } ?? c.deadline
        page[.plate] = c.isProvisional ? t.text("provisional_follows", lang) : Plate.masked(c.plate)
        page[.statusCode] = c.status.rawValue
        page[.statusText] = statusText
        if c.status == .paid { page[.receiptURL] = "/T/" + env.tokens.token(caseID: c.id) + "/receipt" }
        if let payee = env.payee, let ref {
            page[.bankName] = payee.name
            page[.iban] = payee.ibanGrouped
            page[.bic] = payee.bic
            page[.reference] = Payee.grouped(ref)
        }
        return page
    }

    /// The mustache context of the case page; `value` gives each slot's value (or its marker when compiling).
    func caseContext(_ shape: CasePage.Shape, value v: (CasePage.Slot) -> String) -> [String: Any] {
        var ctx = base(shape.lang, path: v(.path))
        ctx["case"] =
            [
                "number": v(.number), "date": v(.date), "time": v(.time), "place": v(.place), "offence": v(.offence), "offenceLang": v(.offenceLang),
                "offenceNote": v(.offenceNote),
                "tbnr": v(.tbnr), "plate": v(.plate),
                // a cancelled case shows no amount to pay beside "you need not pay"
                "due": shape.due ? ["amount": v(.amount), "deadline": v(.deadline)] as [String: Any] : false,
            ] as [String: Any]
        ctx["status"] = ["code": v(.statusCode), "text": v(.statusText)]
        if shape.notice { ctx["notice"] = v(.notice) }
        if shape.receipt { ctx["receiptURL"] = v(.receiptURL) }
        if shape.pay {
            var pay: [String: Any] = [
                "online": shape.paypal || shape.epayment, "paypal": shape.paypal,
                "epayment": shape.epayment ? ["label": env.epayment?.label ?? ""] : false,
            ]
            if shape.bank {
                var bank: [String: Any] = [
                    "name": v(.bankName), "iban": v(.iban), "reference": v(.reference),
                    "amount": v(.amount), "girocode": v(.girocode),
                ]
                if shape.bic { bank["bic"] = v(.bic) }
                pay["bank"] = bank
            }
            ctx["pay"] = pay
        }
        ctx["csrf"] = v(.csrf)
        // a statement (objection) while the case asks for money
        if shape.pay { ctx["statementURL"] = v(.path) + "/statement" }
        ctx["payAction"] = v(.payAction)
        ctx["title"] = v(.number)
        if shape.photos > 0 {
            let alt = env.translations.text("evidence_alt", shape.lang)
            ctx["photos"] = [
                "items": (1...shape.photos).map { n in
                    ["src": v(.path) + "/photo/\(n)", "alt": Translations.fill(alt) { $0 == "number" ? String(n) : nil }]
                }
            ]
        }
        return ctx
    }

    /// `GET /T/{token}/photo/{n}`: the warden's photo `n` of the case, to the holder of its token (the file is read off
    /// the event loop). An erased case has none.
    func photo(_ req: Request, _ context: LotseContext) async throws -> Response {
        guard let number = context.parameters.get("n").flatMap({ Int($0) }), (1...99).contains(number),
            let c = try await verifiedCase(context), c.erasedAt == nil, number <= c.photos,
            let photo = try await env.store.photo(caseID: c.id, number: number)
        else {
            return try notFound(req).response(from: req, context: context)
        }
        guard let body = try await photoBytes(photo) else { return try notFound(req).response(from: req, context: context) }
        // a plate: kept by no cache, as the page
        return Response(
            status: .ok,
            headers: [.contentType: photo.contentType, .cacheControl: "no-store", .contentDisposition: "inline"],
            body: .init(byteBuffer: body)
        )
    }

    /// A stored photo's bytes, read off the event loop (nil: its file is gone). The case page's and the office's.
    func photoBytes(_ photo: EvidenceRecord) async throws -> ByteBuffer? {
        let path = env.config.evidenceDirectory + "/" + photo.file
        return try await NIOThreadPool.singleton.runIfActive { FileManager.default.contents(atPath: path).map { ByteBuffer(bytes: $0) } }
    }

    /// The EPC QR code as SVG (for the page) or PNG (for letters).
    func giroCode(_ req: Request, _ context: LotseContext, png: Bool) async throws -> Response {
        guard let c = try await verifiedCase(context), let payee = env.payee,
            c.status.isPayable,
            let ref = RFReference.make(from: c.caseNumber)
        else {
            return try notFound(req).response(from: req, context: context)
        }
        let payload = try GiroCode.payload(
            payee: payee,
            amountCents: c.dueCents,
            reference: ref,
            note: "Verwarnungsgeld " + c.caseNumber
        )
        let code = try QRCode(bytes: Array(payload.utf8), level: .M)
        return Response(
            status: .ok,
            headers: [.contentType: png ? "image/png" : "image/svg+xml", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: png ? code.png(moduleSize: 6) : code.svg(moduleSize: 4)))
        )
    }
}

/// The case page's values, by slot, and its shape.
struct CasePage: Sendable {
    struct Shape: Hashable, Sendable {
        var lang: String
        var notice, receipt, pay, paypal, epayment, bank, bic: Bool
        /// Amount and deadline are shown: not for a case that asks for nothing any more (cancelled, handed over).
        var due: Bool
        /// How many of the warden's photos the page shows.
        var photos = 0
    }

    enum Slot: Int, CaseIterable {
        case path, number, date, time, place, offence, offenceLang, offenceNote, tbnr, amount, deadline, plate, statusCode, statusText, notice,
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

/// The case-dependent part of case pages (`MotoristController.caseValues`) per case and language,
/// reused while the case record and the day are the same. The record comes from `CaseCache`, which
/// drops a case when it changes; comparing the record here ties these values to that, with no
/// invalidation of their own. Holds at most `capacity` entries, the oldest making way for a new one (`FIFOMap`).
final class CaseValuesCache: Sendable {
    struct Key: Hashable {
        let id: Int64
        let lang: String
    }

    struct Entry: Sendable {
        let record: CaseRecord
        let day: CivilDate
        let page: CasePage
    }

    private let entries: Mutex<FIFOMap<Key, Entry>>

    init(capacity: Int = 50_000) {
        entries = Mutex(FIFOMap(capacity: capacity))
    }

    func get(_ c: CaseRecord, lang: String, day: CivilDate, make: () -> CasePage) -> CasePage {
        let key = Key(id: c.id, lang: lang)
        if let e = entries.withLock({ $0[key] }), e.day == day, e.record == c { return e.page }
        let page = make()
        entries.withLock { $0.insert(Entry(record: c, day: day, page: page), for: key) }
        return page
    }
}
