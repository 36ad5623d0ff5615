import Foundation
import Logging
import LotseCore
import LotseStorage

/// An order id PayPal answered with that Lotse already knows for another case: refused, never reused.
public struct OrderIDConflict: Error, CustomStringConvertible {
    public var orderID: String
    public var caseID: Int64
    public var ownerCaseID: Int64
    public var description: String {
        "PayPal answered the order for case id \(caseID) with order \(orderID), which belongs to case id \(ownerCaseID): refused"
    }
}

/// PayPal behind the provider interface: orders (one open order per case, reused), capture on return,
/// webhooks verified and deduplicated, exactly one payment per capture.
///
/// At most one capture per case: before any capture (return, webhook, sweep) the order takes the case's claim in one
/// write transaction (`ProviderOrders.claimCapture`); another order of the case is not captured while the claim is
/// held, and never once the case is paid or cancelled. Money PayPal captures anyway (a capture outside Lotse, a
/// PayPal fault) is recorded on the refund list and refunded through PayPal's API.
/// Webhooks are only a prompt: what is booked is what PayPal's API says about the order.
public final class PayPalProvider: PaymentProvider, Sendable {
    public let id = "paypal"
    let api: PayPalAPI
    let store: Store
    let publicBaseURL: String
    let webhookID: String?
    /// Set: webhooks are verified offline against PayPal's certificate; nil: by asking PayPal's API.
    let certificates: WebhookCertificates?
    let logger: Logger
    /// An approval link stays usable this long; after it a new order is created.
    let orderLifetime: Int64 = 3 * 3600
    /// How long a return waits (in steps of 0.1 s) for another order of the case that holds the capture claim.
    let returnPatience: Int
    /// The time recorded on orders, payments and events (the wall clock; the demo pilot runs its own).
    let clock: @Sendable () -> Int64

    /// PayPal's page in the language of the case page where PayPal has it (German for Leichte Sprache), else English.
    static func locale(_ language: String) -> String {
        let locales = ["de": "de-DE", "de-x-ls": "de-DE", "en": "en-US", "fr": "fr-FR", "pl": "pl-PL", "ru": "ru-RU"]
        return locales[language] ?? "en-US"
    }

    public init(
        api: PayPalAPI,
        store: Store,
        publicBaseURL: String,
        webhookID: String?,
        certificates: WebhookCertificates? = nil,
        logger: Logger = Logger(label: "lotse.paypal"),
        returnPatience: Int = 30,
        clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) {
        self.clock = clock
        self.api = api
        self.store = store
        self.publicBaseURL = publicBaseURL
        self.webhookID = webhookID
        self.certificates = certificates
        self.logger = logger
        self.returnPatience = returnPatience
    }

    func now() -> Int64 { clock() }

    public func probe() async -> ProviderProbe {
        do {
            _ = try await api.accessToken(renew: true)
            return .ok
        } catch let error as PayPalError where (400..<500).contains(error.status) {
            return .refused("\(error)")
        } catch {
            return .unreachable("\(error)")
        }
    }

    public func start(_ c: PayableCase, language: String) async throws -> Handoff {
        let now = now()
        let lifetime = orderLifetime
        if let open = try await store.openOrder(caseID: c.id, provider: self.id, since: now - lifetime) {
            if open.amountCents == c.amountCents && open.language == language {
                return Handoff(redirectURL: open.approveURL, orderID: open.orderID, reused: true)
            }
            // a partial payment arrived since the order was made (it asks too much), or the motorist switched the
            // page's language (PayPal's page would keep the first): a new order
            try await store.setOrderStatus(orderID: open.orderID, .cancelled, now: now)
        }
        let (attempt, requestID) = try await store.nextOrderAttempt(caseID: c.id, expiredBefore: now - lifetime, now: now)
        let order = try await api.createOrder(
            caseNumber: c.number,
            amountCents: c.amountCents,
            locale: Self.locale(language),
            returnURL: publicBaseURL + "/pay/paypal/return",
            cancelURL: publicBaseURL + "/pay/paypal/cancel",
            requestID: requestID
        )
        guard let link = order.payerActionURL else {
            throw PayPalError(status: 201, name: "NO_APPROVAL_LINK", issue: nil, message: "order has no payer-action link", debugID: nil)
        }
        let insertion = try await store.insertOrder(
            orderID: order.id,
            provider: self.id,
            caseID: c.id,
            attempt: attempt,
            approveURL: link,
            amountCents: c.amountCents,
            language: language,
            now: now
        )
        switch insertion {
        case .inserted: return Handoff(redirectURL: link, orderID: order.id, reused: false)
        case .known: return Handoff(redirectURL: link, orderID: order.id, reused: true)
        case .otherCase(let owner):
            let conflict = OrderIDConflict(orderID: order.id, caseID: c.id, ownerCaseID: owner)
            logger.error("\(conflict)")
            throw conflict
        }
    }

    func orderRow(_ orderID: String) async throws -> ProviderOrder? {
        try await store.providerOrder(orderID: orderID)
    }

    func setStatus(_ orderID: String, _ status: OrderStatus, capture: String? = nil) async throws {
        let now = now()
        try await store.setOrderStatus(orderID: orderID, status, captureID: capture, now: now)
    }

    public func complete(orderID: String) async throws -> Completion {
        try await complete(orderID: orderID, patience: returnPatience)
    }

    /// Captures `orderID` if it may: it takes the case's claim first. `patience`: steps of 0.1 s to wait while
    /// another order of the case holds the claim (then the motorist sees the payment that counts).
    func complete(orderID: String, patience: Int) async throws -> Completion {
        var claim = try await takeClaim(orderID)
        var waited = 0
        while case .heldBy = claim, waited < patience {
            try await Task.sleep(nanoseconds: 100_000_000)
            waited += 1
            claim = try await takeClaim(orderID)
        }
        let o: ProviderOrder
        switch claim {
        case .unknownOrder: return .unknownOrder
        case .completed(let caseID, let capture): return .paid(caseID: caseID, captureID: capture ?? "", refund: false)
        case .casePaid(let caseID, let capture):
            // An order approved in a second tab after the first was paid: left uncaptured; the receipt that counts.
            return .paid(caseID: caseID, captureID: capture ?? "", refund: false)
        case .caseCancelled(let caseID):
            logger.info("paypal: order of a cancelled case left uncaptured")
            return .cancelled(caseID: caseID)
        case .heldBy(let caseID, _):
            // The other order's capture is under way or pending; this one stays approved and the sweep looks again.
            return .pending(caseID: caseID)
        case .granted(let granted):
            o = granted
        }
        // The capture's request id is fixed per order: the return, the webhook and the sweep all send the same.
        // A call that fails here leaves it unknown whether PayPal captured: the claim stays, the sweep asks PayPal.
        switch try await api.capture(orderID, requestID: "lotse-\(o.caseID)-capture-\(orderID)") {
        case .captured(let order):
            guard let c = order.captures.first(where: { $0.status == "COMPLETED" || $0.status == "PENDING" }) ?? order.capture else {
                return .failed(caseID: o.caseID, reason: "order \(order.status) without capture")
            }
            var outcome = try await record(c, orderID: orderID, caseID: o.caseID, expected: o.amountCents)
            for other in order.captures where other.id != c.id && other.status == "COMPLETED" {
                // PayPal captured more than once: every further capture goes back.
                outcome = try await record(other, orderID: orderID, caseID: o.caseID, expected: o.amountCents)
            }
            return outcome
        case .notApproved:
            try await store.releaseCaptureClaim(orderID: orderID)
            return .notApproved(caseID: o.caseID)
        case .failed(let e):
            logger.error("paypal capture failed: \(e)")
            if e.issue == "INSTRUMENT_DECLINED" || e.status == 422 {
                let now = now()
                try await store.failOrder(orderID: orderID, caseID: o.caseID, event: .paymentFailed, provider: self.id, now: now)
            } else if e.status >= 400 && e.status < 500 {
                try await store.releaseCaptureClaim(orderID: orderID)
            }
            return .failed(caseID: o.caseID, reason: e.name)
        }
    }

    func takeClaim(_ orderID: String) async throws -> CaptureClaim {
        let now = now()
        return try await store.claimCapture(orderID: orderID, now: now)
    }

    /// A capture as PayPal reported it: paid only when COMPLETED with the case's amount in EUR; PENDING waits.
    /// Money for a case that is paid or cancelled is recorded on the refund list and refunded through PayPal.
    func record(_ c: PayPalAPI.Capture, orderID: String, caseID: Int64, expected: Int) async throws -> Completion {
        switch c.status {
        case "COMPLETED":
            guard let cents = Money.parseCents(c.value) else {
                return .failed(caseID: caseID, reason: "capture of \(c.value) \(c.currency)")
            }
            let now = now()
            let payment = IncomingPayment(
                channel: .paypal,
                amountCents: cents,
                currency: c.currency,
                paidAt: now,
                source: "paypal",
                dedupKey: "paypal:capture:" + c.id,
                externalID: c.id,
                reference: orderID,
                note: cents == expected ? nil : "captured \(c.value) \(c.currency), expected \(Money.plain(expected))"
            )
            // the order completed, the payment recorded and, for money that goes back, the refund noted: one transaction
            let outcome = try await store.recordCapture(
                orderID: orderID,
                captureID: c.id,
                payment: payment,
                caseID: caseID,
                provider: self.id,
                now: now
            )
            switch outcome {
            case .duplicate: return .paid(caseID: caseID, captureID: c.id, refund: false)
            case .recorded(_, let d):
                if d == .refund {
                    logger.warning("paypal: a capture for a case that is paid or cancelled; refunding it through PayPal")
                    await refund(ProviderRefund(captureID: c.id, orderID: orderID, caseID: caseID, amountCents: cents))
                }
                return .paid(caseID: caseID, captureID: c.id, refund: d == .refund)
            }
        case "PENDING":
            try await setStatus(orderID, .pending, capture: c.id)
            return .pending(caseID: caseID)
        case "DECLINED", "FAILED":
            let now = now()
            try await store.failOrder(orderID: orderID, caseID: caseID, captureID: c.id, event: .paymentDenied, provider: self.id, now: now)
            return .failed(caseID: caseID, reason: c.status)
        default:
            return .pending(caseID: caseID)
        }
    }

    /// Refunds a capture through PayPal (the request id is fixed per capture, so it can never go back twice) and
    /// records PayPal's answer; a failed call stays requested and the sweep tries again.
    func refund(_ r: ProviderRefund) async {
        do {
            // the amount always named: a retried surplus refund must not become a refund of the whole capture
            let result = try await api.refund(captureID: r.captureID, requestID: "lotse-refund-" + r.captureID, amountCents: r.amountCents)
            let now = now()
            switch result {
            case .refunded(let refundID, _):
                try await store.refundAnswered(r, completed: true, refundID: refundID, provider: self.id, now: now)
            case .refused(let issue):
                logger.error("paypal refused a refund (\(issue)); it stays on the refund list")
                try await store.refundAnswered(r, completed: false, refundID: nil, provider: self.id, now: now)
            }
        } catch {
            logger.error("paypal refund failed, will retry: \(error)")
        }
    }

    /// What came of the office's refund of a payment on the refund list.
    public enum OfficeRefund: Sendable, Equatable {
        case refunded(refundID: String)
        case alreadyRefunded(refundID: String?)
        case notOnRefundList
        /// Not a PayPal payment: it goes back by bank transfer (by hand).
        case notPayPal
        case refused(issue: String)
    }

    /// The office refunds a PayPal payment of the refund list through PayPal's API: what the list says is to go back
    /// (the whole capture, or its surplus). Idempotent: the request id is fixed per capture (the same the automatic
    /// refund uses), so pressing twice, or at the same time as the sweep, makes one refund at PayPal.
    public func refundFromList(paymentID: Int64) async throws -> OfficeRefund {
        switch try await store.refundStanding(paymentID: paymentID) {
        case .notOnList: return .notOnRefundList
        case .refundedAlready(let id): return .alreadyRefunded(refundID: id)
        case .onList(let p):
            guard p.channel == .paypal, let capture = p.externalID else { return .notPayPal }
            let r = ProviderRefund(captureID: capture, orderID: p.reference ?? "", caseID: p.caseID, amountCents: p.refundCents)
            try await store.requestProviderRefund(r, provider: self.id, now: now())
            let result = try await api.refund(captureID: capture, requestID: "lotse-refund-" + capture, amountCents: p.refundCents)
            switch result {
            case .refunded(let refundID, _):
                try await store.refundAnswered(r, completed: true, refundID: refundID, provider: self.id, now: now())
                logger.info("paypal: payment \(paymentID) refunded by the office")
                return .refunded(refundID: refundID)
            case .refused(let issue):
                logger.error("paypal refused the office's refund of payment \(paymentID) (\(issue)); it stays on the refund list")
                try await store.refundAnswered(r, completed: false, refundID: nil, provider: self.id, now: now())
                return .refused(issue: issue)
            }
        }
    }

    public func cancel(orderID: String) throws -> Completion {
        guard let o = try store.providerOrder(orderID: orderID) else { return .unknownOrder }
        if o.status == .created { try store.setOrderStatus(orderID: orderID, .cancelled, now: now()) }
        return .cancelled(caseID: o.caseID)
    }

    public func refresh(orderID: String) async throws -> Completion {
        try await refresh(orderID: orderID, patience: 0)
    }

    /// Asks PayPal about the order and acts on what PayPal says.
    func refresh(orderID: String, patience: Int) async throws -> Completion {
        guard let o = try await orderRow(orderID) else { return .unknownOrder }
        let order = try await api.getOrder(orderID)
        switch order.status {
        case "APPROVED": return try await complete(orderID: orderID, patience: patience)
        case "COMPLETED": return try await recordCaptures(of: order, o)
        case "VOIDED":
            try await setStatus(orderID, .cancelled)
            return .cancelled(caseID: o.caseID)
        default:
            // Not approved (any more): a claim this order holds would block the case's other orders.
            try await store.releaseCaptureClaim(orderID: orderID)
            return .notApproved(caseID: o.caseID)
        }
    }

    /// Books the captures PayPal has for an order (the first that counts; any further one goes back).
    func recordCaptures(of order: PayPalAPI.Order, _ o: ProviderOrder) async throws -> Completion {
        guard !order.captures.isEmpty else { return .failed(caseID: o.caseID, reason: "order \(order.status) without capture") }
        var first: Completion?
        for c in order.captures {
            let r = try await record(c, orderID: o.orderID, caseID: o.caseID, expected: o.amountCents)
            if first == nil { first = r }
        }
        return first!
    }

    public func handleNotification(headers: [String: String], body: [UInt8]) async throws -> NotificationOutcome {
        guard let webhookID, let event = PayPalAPI.object(body), let eventID = event["id"] as? String,
            let type = event["event_type"] as? String
        else { return .rejected }
        let verified: Bool
        if let certificates {
            verified = await certificates.verify(headers: headers, rawEvent: body, webhookID: webhookID)
        } else {
            verified = try await api.verifyWebhook(headers: headers, rawEvent: body, webhookID: webhookID)
        }
        guard verified else {
            logger.warning("paypal webhook failed verification")
            return .rejected
        }
        if try await store.webhookSeen(eventID: "paypal:" + eventID) { return .duplicate }
        let resource = event["resource"] as? [String: Any] ?? [:]
        var outcome = NotificationOutcome.handled(type)
        // The event only says where to look: what is booked is what PayPal's API says about the order.
        switch type {
        case "CHECKOUT.ORDER.APPROVED":
            // The motorist's return may never come: capture now if PayPal says the order is approved.
            if let id = resource["id"] as? String, try await orderRow(id) != nil {
                _ = try await refresh(orderID: id, patience: 0)
            } else {
                outcome = .ignored(type)
            }
        case "PAYMENT.CAPTURE.COMPLETED", "PAYMENT.CAPTURE.DENIED", "PAYMENT.CAPTURE.REFUNDED", "PAYMENT.CAPTURE.REVERSED":
            let related = (resource["supplementary_data"] as? [String: Any])?["related_ids"] as? [String: Any]
            if let orderID = related?["order_id"] as? String, let captureID = resource["id"] as? String, let o = try await orderRow(orderID) {
                outcome = try await captureEvent(type, captureID: captureID, order: o)
            } else {
                outcome = .ignored(type)
            }
        default:
            outcome = .ignored(type)
        }
        let now = now()
        try await store.noteWebhook(eventID: "paypal:" + eventID, provider: self.id, kind: type, now: now)
        return outcome
    }

    /// A capture event: the order is read from PayPal and the capture is taken as PayPal has it, if it has it.
    func captureEvent(_ type: String, captureID: String, order o: ProviderOrder) async throws -> NotificationOutcome {
        let order = try await api.getOrder(o.orderID)
        guard let c = order.captures.first(where: { $0.id == captureID }) else {
            logger.warning("paypal webhook \(type) names a capture that PayPal does not report for the order: ignored")
            return .ignored(type)
        }
        switch c.status {
        case "COMPLETED", "PENDING", "DECLINED", "FAILED":
            _ = try await recordCaptures(of: order, o)
        case "REFUNDED", "PARTIALLY_REFUNDED", "REVERSED":
            let now = now()
            let ours = try await store.providerRefund(captureID: c.id)
            if ours?.status != "completed" {
                try await store.addEvent(caseID: o.caseID, kind: .paymentRefunded, at: now, detail: self.id)
            }
        default:
            return .ignored(type)
        }
        return .handled(type)
    }

    /// Checks orders that were started but never finished (lost returns, lost webhooks) and retries refunds.
    public func sweep(olderThan age: Int64 = 600) async -> (checked: Int, paid: Int) {
        let ids = (try? await store.staleOrders(provider: self.id, olderThan: age, now: now())) ?? []
        var paid = 0
        for id in ids {
            if case .paid = (try? await refresh(orderID: id)) ?? .unknownOrder { paid += 1 }
        }
        for r in (try? await store.refundsRequested(provider: self.id)) ?? [] {
            await refund(r)
        }
        return (ids.count, paid)
    }
}
