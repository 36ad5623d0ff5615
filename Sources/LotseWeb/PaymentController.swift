import Foundation
import HTTPTypes
import Hummingbird
import Logging
import LotseCore
import LotsePayments
import LotseStorage
import LotseTokens
import Metrics
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The hand-off to the online payment provider and the way back: pay, return, cancel, webhooks, receipt.
extension MotoristController {
    static let notices: Set<String> = [
        "payment_cancelled", "payment_pending", "payment_failed", "paypal_unavailable",
        "epayment_cancelled", "epayment_pending", "epayment_failed", "epayment_unavailable", "epayment_refused", "statement_received",
    ]

    func registerPayments(on router: Router<LotseContext>) {
        for prefix in ["T", "t"] {
            router.post("/\(prefix)/:token/pay") { req, ctx in try await pay(req, ctx) }
            router.get("/\(prefix)/:token/receipt") { req, ctx in try await receipt(req, ctx) }
        }
        router.get("/pay/paypal/return") { req, _ in try await providerReturn(req, cancelled: false) }
        router.get("/pay/paypal/cancel") { req, _ in try await providerReturn(req, cancelled: true) }
        router.get("/pay/xbd/return/:requestId") { req, ctx in try await epaymentReturn(req, ctx) }
        // the platform's call says only that something changed: the status is read from the platform
        router.get("/pay/xbd/notify/:requestId") { req, ctx in try await epaymentNotification(req, ctx) }
        router.post("/pay/xbd/notify/:requestId") { req, ctx in try await epaymentNotification(req, ctx) }
        router.post("/webhooks/paypal") { req, _ -> Response in
            guard let provider = env.paypal else { return Response(status: .notFound) }
            let body = try await req.body.collect(upTo: 256 * 1024)
            var headers: [String: String] = [:]
            for f in req.headers { headers[f.name.canonicalName.lowercased()] = f.value }
            let outcome = try await provider.handleNotification(headers: headers, body: Array(buffer: body))
            if outcome == .rejected {
                // a notification that failed verification: a fault at the provider, or somebody trying
                Counter(label: "lotse_webhook_rejected_total", dimensions: [("provider", provider.id)]).increment()
            }
            return Response(status: outcome == .rejected ? .badRequest : .ok)
        }
    }

    func caseLocation(_ caseID: Int64, lang: String?, notice: String? = nil, receipt: Bool = false) -> String {
        var s = "/T/" + env.tokens.token(caseID: caseID) + (receipt ? "/receipt" : "")
        var q: [String] = []
        if let lang { q.append("lang=" + lang) }
        if let notice { q.append("notice=" + notice) }
        if !q.isEmpty { s += "?" + q.joined(separator: "&") }
        return s
    }

    func redirect(_ location: String) -> HTML {
        HTML(body: "", status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    /// `POST /T/{token}/pay`: CSRF checked, then 303 to the provider's approval page. A ticket token of a ticket not
    /// yet imported opens its provisional case first (`ProvisionalCases`), so the motorist can pay at once.
    func pay(_ req: Request, _ context: LotseContext) async throws -> HTML {
        let token = context.parameters.get("token") ?? ""
        var found: CaseRecord?
        var signed: SignedTicket?
        if token.utf8.count == TicketTokens.textLength {
            // one look: a second press racing the first may find the case the first has just opened
            switch try await ticketTarget(token, cached: false) {
            case .imported(let c): found = c
            case .pending(let claim, let device): signed = signedTicket(claim, device: device)
            case .refused: break
            }
        } else {
            found = try await verifiedCase(token: token, cached: false)
        }
        guard found != nil || signed != nil else { return try notFound(req) }
        let body = try await req.body.collect(upTo: 16 * 1024)
        let form = Form.decode(String(buffer: body))
        let lang = env.translations.supports(form["lang"] ?? "") ? form["lang"]! : language(req).lang
        let back = found.map { caseLocation($0.id, lang: lang) } ?? "/t/\(token.uppercased())?lang=\(lang)"
        // `provider=paypal` or `provider=xbd`; without it, the one configured (PayPal when both are)
        let chosen = form["provider"].flatMap { env.provider($0) } ?? (form["provider"] == nil ? env.paypal ?? env.providers.first : nil)
        guard formIsGenuine(req, form["csrf"], action: req.uri.path), let provider = chosen else { return redirect(back) }
        let unavailable = provider.id == "xbd" ? "epayment_unavailable" : "paypal_unavailable"
        if let signed {
            guard provisionalBudget.take(env.proxies.client(req, context)) else {
                return redirect(back + "&notice=" + unavailable)
            }
            let now = Int64(Date().timeIntervalSince1970)
            let prefix = env.config.caseNumberPrefix
            let id = try await env.store.provisionalCase(for: signed, prefix: prefix, paymentDays: env.config.paymentDays, now: now)
            found = try await env.store.caseRecord(id: id)
        }
        guard let c = found else { throw HTTPError(.internalServerError) }
        guard c.status.isPayable else { return redirect(caseLocation(c.id, lang: lang)) }
        do {
            let h = try await provider.start(PayableCase(id: c.id, number: c.caseNumber, amountCents: c.dueCents), language: lang)
            Counter(label: "lotse_payment_handoffs_total", dimensions: [("provider", provider.id)]).increment()
            return redirect(h.redirectURL)
        } catch let e as XBezahldiensteError where (400..<500).contains(e.status) {
            // the platform refused (PAYMENT_EXISTS, CALCULATION_ERROR, VALIDATION_ERROR, NO_VALID_ORIGINATOR_OR_ENDPOINT,
            // FORBIDDEN): logged by the provider; trying again will not help the motorist
            Counter(label: "lotse_provider_errors_total", dimensions: [("provider", provider.id)]).increment()
            return redirect(caseLocation(c.id, lang: lang, notice: "epayment_refused"))
        } catch {
            Counter(label: "lotse_provider_errors_total", dimensions: [("provider", provider.id)]).increment()
            env.logger.error("payment hand-off failed: \(error)")
            return redirect(caseLocation(c.id, lang: lang, notice: unavailable))
        }
    }

    /// Back from the provider: capture, then the receipt; or the case page, unchanged, after a cancel.
    func providerReturn(_ req: Request, cancelled: Bool) async throws -> HTML {
        guard let provider = env.paypal, let orderID = req.uri.queryParameters.get("token"), !orderID.isEmpty,
            let lang = try await env.store.providerOrder(orderID: orderID)?.language
        else { return try notFound(req) }
        if cancelled {
            // cancel reads and writes synchronously: on NIO's blocking pool, not on the event loop
            let r = try await NIOThreadPool.singleton.runIfActive { try provider.cancel(orderID: orderID) }
            guard let id = r.caseID else { return try notFound(req) }
            return redirect(caseLocation(id, lang: lang, notice: "payment_cancelled"))
        }
        let result: Completion
        do {
            result = try await provider.complete(orderID: orderID)
        } catch {
            Counter(label: "lotse_provider_errors_total", dimensions: [("provider", provider.id)]).increment()
            Counter(label: "lotse_provider_outcomes_total", dimensions: [("provider", provider.id), ("outcome", "error")]).increment()
            env.logger.error("payment completion failed: \(error)")
            guard let id = try await env.store.caseID(orderID: orderID) else { return try notFound(req) }
            return redirect(caseLocation(id, lang: lang, notice: "payment_pending"))
        }
        Counter(label: "lotse_provider_outcomes_total", dimensions: [("provider", provider.id), ("outcome", Self.outcome(result))]).increment()
        switch result {
        case .paid(let id, _, _):
            Counter(label: "lotse_payments_total", dimensions: [("channel", "paypal")]).increment()
            return redirect(caseLocation(id, lang: lang, receipt: true))
        case .pending(let id): return redirect(caseLocation(id, lang: lang, notice: "payment_pending"))
        case .notApproved(let id), .failed(let id, _): return redirect(caseLocation(id, lang: lang, notice: "payment_failed"))
        case .cancelled(let id): return redirect(caseLocation(id, lang: lang, notice: "payment_cancelled"))
        case .unknownOrder: return try notFound(req)
        }
    }

    /// `GET /pay/xbd/return/{requestId}`: back from the e-payment platform's pay page. The return proves nothing: the
    /// transaction's status is read from the platform, then the receipt, or the case page with what happened.
    func epaymentReturn(_ req: Request, _ context: LotseContext) async throws -> HTML {
        let requestID = context.parameters.get("requestId") ?? ""
        guard let provider = env.epayment, let order = try await env.store.providerOrder(orderID: requestID), order.provider == provider.id
        else { return try notFound(req) }
        let lang = order.language.isEmpty ? nil : order.language
        let result: Completion
        do {
            result = try await provider.complete(orderID: requestID)
        } catch {
            Counter(label: "lotse_provider_errors_total", dimensions: [("provider", provider.id)]).increment()
            Counter(label: "lotse_provider_outcomes_total", dimensions: [("provider", provider.id), ("outcome", "error")]).increment()
            env.logger.error("e-payment status read failed: \(error)")
            return redirect(caseLocation(order.caseID, lang: lang, notice: "epayment_pending"))
        }
        Counter(label: "lotse_provider_outcomes_total", dimensions: [("provider", provider.id), ("outcome", Self.outcome(result))]).increment()
        switch result {
        case .paid(let id, _, _):
            Counter(label: "lotse_payments_total", dimensions: [("channel", "epayment")]).increment()
            return redirect(caseLocation(id, lang: lang, receipt: true))
        case .pending(let id), .notApproved(let id): return redirect(caseLocation(id, lang: lang, notice: "epayment_pending"))
        case .failed(let id, _): return redirect(caseLocation(id, lang: lang, notice: "epayment_failed"))
        case .cancelled(let id): return redirect(caseLocation(id, lang: lang, notice: "epayment_cancelled"))
        case .unknownOrder: return try notFound(req)
        }
    }

    /// `GET|POST /pay/xbd/notify/{requestId}`: the platform says a transaction changed. Nothing in the call is believed:
    /// the status is read from the platform. 200 once read, 404 for a request id Lotse never made, 503 when the
    /// platform could not be asked (it may call again; the sweep asks anyway).
    func epaymentNotification(_ req: Request, _ context: LotseContext) async throws -> Response {
        let requestID = context.parameters.get("requestId") ?? ""
        guard let provider = env.epayment, let order = try await env.store.providerOrder(orderID: requestID), order.provider == provider.id
        else { return Response(status: .notFound) }
        _ = try? await req.body.collect(upTo: 64 * 1024)
        do {
            if let result = try await provider.refreshNotified(orderID: requestID) {
                Counter(label: "lotse_provider_outcomes_total", dimensions: [("provider", provider.id), ("outcome", Self.outcome(result))])
                    .increment()
            }
            return Response(status: .ok)
        } catch {
            env.logger.warning("e-payment notification: status read failed: \(error)")
            return Response(status: .serviceUnavailable)
        }
    }

    /// The outcome label of `lotse_provider_outcomes_total`.
    static func outcome(_ c: Completion) -> String {
        switch c {
        case .paid: return "paid"
        case .pending: return "pending"
        case .notApproved: return "not_approved"
        case .cancelled: return "cancelled"
        case .failed: return "failed"
        case .unknownOrder: return "unknown_order"
        }
    }

    /// `GET /T/{token}/receipt`: the printable confirmation of payment.
    func receipt(_ req: Request, _ context: LotseContext) async throws -> HTML {
        guard let c = try await verifiedCase(context) else { return try notFound(req) }
        let (lang, remember) = language(req)
        guard c.status == .paid, let p = try await env.store.latestCapture(caseID: c.id) else {
            return redirect(caseLocation(c.id, lang: lang))
        }
        let t = env.translations
        var ctx = base(lang, path: req.uri.path)
        let paidAt = c.paidAt ?? p.paidAt
        let code = receiptCodes.code(.init(caseID: c.id, caseNumber: c.caseNumber, amountCents: c.amountCents, paidAt: paidAt))
        let offence = env.offenceTexts.display(tbnr: c.tbnr, german: c.offenceText, lang: lang)
        ctx["receipt"] =
            [
                "number": c.caseNumber, "offenceLang": offence.lang, "tbnr": c.tbnr,
                "offence": offence.text, "offenceNote": offence.fallback ? t.text("offence_german_only", lang) : "",
                "date": t.date(BerlinTime.local(c.issuedAt).date, lang) + ", " + BerlinTime.local(c.issuedAt).clock,
                "amount": Money.display(c.amountCents, language: lang),
                "paidOn": t.date(BerlinTime.local(paidAt).date, lang),
                "channel": t.text("channel_" + p.channel.rawValue, lang),
                "paymentID": p.externalID ?? "L-\(p.id)",
                "back": caseLocation(c.id, lang: nil),
                "authority": env.config.authorityName, "authorityAddress": env.config.authorityAddress ?? "",
                "code": code, "verifyURL": env.config.publicBaseURL + "/verify?code=" + code,
            ] as [String: Any]
        ctx["title"] = t.text("receipt_title", lang) + " " + c.caseNumber
        return try render("receipt", ctx, lang: lang, remember: remember, noStore: true)
    }
}

/// Checks, every few minutes, orders whose return and webhooks never arrived.
struct PaymentSweepService: Service {
    let provider: any PaymentProvider
    let interval: Double
    /// Orders untouched for this many seconds are checked.
    let age: Int64
    let logger: Logger

    func run() async throws {
        // Stops at once on graceful shutdown (SIGTERM, SIGINT).
        await repeatUntilShutdown(every: .seconds(interval)) { [provider, age, logger] in
            let r = await provider.sweep(olderThan: age)
            if r.checked > 0 { logger.info("payment sweep: checked \(r.checked) open orders, \(r.paid) paid") }
        }
    }
}
