import Foundation
import GRDB
import Logging
import LotseCore
import LotseStorage

/// PayPal behind the provider interface: orders (one open order per case, reused), capture on return,
/// webhooks verified and deduplicated, exactly one payment per capture.
public final class PayPalProvider: PaymentProvider, Sendable {
    public let id = "paypal"
    let api: PayPalAPI
    let store: Store
    let publicBaseURL: String
    let webhookID: String?
    let logger: Logger
    /// An approval link stays usable this long; after it a new order is created.
    let orderLifetime: Int64 = 3 * 3600
    /// The time recorded on orders, payments and events (the wall clock; the demo pilot runs its own).
    let clock: @Sendable () -> Int64

    public init(api: PayPalAPI, store: Store, publicBaseURL: String, webhookID: String?, logger: Logger = Logger(label: "lotse.paypal"),
                clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) {
        self.clock = clock
        self.api = api
        self.store = store
        self.publicBaseURL = publicBaseURL
        self.webhookID = webhookID
        self.logger = logger
    }

    func now() -> Int64 { clock() }

    public func start(_ c: PayableCase, language: String) async throws -> Handoff {
        let now = now()
        let (open, attempt) = try store.read { db -> ((String, String)?, Int) in
            let open = try Row.fetchOne(db, sql: """
                SELECT order_id, approve_url FROM provider_orders
                WHERE case_id = ? AND provider = 'paypal' AND status IN ('created', 'approved') AND created_at > ?
                ORDER BY attempt DESC LIMIT 1
                """, arguments: [c.id, now - orderLifetime]).map { ($0["order_id"] as String, $0["approve_url"] as String) }
            // The attempt number only moves on when earlier orders are finished: two tabs pressing at once
            // send the same request id, and PayPal answers both with the same order.
            let closed = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM provider_orders WHERE case_id = ? AND (status IN ('cancelled', 'failed') OR created_at <= ?)
                """, arguments: [c.id, now - orderLifetime]) ?? 0
            return (open, closed + 1)
        }
        if let open { return Handoff(redirectURL: open.1, orderID: open.0, reused: true) }
        let order = try await api.createOrder(
            caseNumber: c.number, amountCents: c.amountCents, locale: language == "en" ? "en-US" : "de-DE",
            returnURL: publicBaseURL + "/pay/paypal/return", cancelURL: publicBaseURL + "/pay/paypal/cancel",
            requestID: "lotse-\(c.id)-order-\(attempt)")
        guard let link = order.payerActionURL else {
            throw PayPalError(status: 201, name: "NO_APPROVAL_LINK", issue: nil, message: "order has no payer-action link", debugID: nil)
        }
        let reused = try store.write { db -> Bool in
            try db.execute(sql: """
                INSERT OR IGNORE INTO provider_orders (order_id, provider, case_id, attempt, status, approve_url, amount_cents,
                                                       language, created_at, updated_at)
                VALUES (?, 'paypal', ?, ?, 'created', ?, ?, ?, ?, ?)
                """, arguments: [order.id, c.id, attempt, link, c.amountCents, language, now, now])
            let inserted = db.changesCount > 0
            if inserted { try CaseQueries.addEvent(db, caseID: c.id, kind: "handoff_started", at: now, detail: "paypal") }
            return !inserted
        }
        return Handoff(redirectURL: link, orderID: order.id, reused: reused)
    }

    func orderRow(_ orderID: String) throws -> (caseID: Int64, amount: Int, status: String)? {
        try store.read { db in
            try Row.fetchOne(db, sql: "SELECT case_id, amount_cents, status FROM provider_orders WHERE order_id = ?",
                             arguments: [orderID]).map { ($0["case_id"], $0["amount_cents"], $0["status"]) }
        }
    }

    func setStatus(_ orderID: String, _ status: String, capture: String? = nil) throws {
        try store.write { db in
            try db.execute(sql: """
                UPDATE provider_orders SET status = ?, capture_id = coalesce(?, capture_id), updated_at = ?
                WHERE order_id = ? AND status != 'completed'
                """, arguments: [status, capture, now(), orderID])
        }
    }

    public func complete(orderID: String) async throws -> Completion {
        guard let o = try orderRow(orderID) else { return .unknownOrder }
        if o.status == "completed" {
            let capture = try store.read { try String.fetchOne($0, sql: "SELECT capture_id FROM provider_orders WHERE order_id = ?", arguments: [orderID]) }
            return .paid(caseID: o.caseID, captureID: capture ?? "", refund: false)
        }
        // A paid case is never captured again (an order approved in a second tab after the first was paid):
        // the order is left uncaptured and the motorist sees the receipt of the payment that counts.
        let paidBy = try store.read { db -> String?? in
            guard try String.fetchOne(db, sql: "SELECT status FROM cases WHERE id = ?", arguments: [o.caseID]) == "paid" else { return nil }
            return .some(try ProviderOrders.latestCapture(db, caseID: o.caseID)?.externalID)
        }
        if let paidBy {
            try setStatus(orderID, "cancelled")
            return .paid(caseID: o.caseID, captureID: paidBy ?? "", refund: false)
        }
        // The capture's request id is fixed per order: the return, the webhook and the sweep all send the same.
        switch try await api.capture(orderID, requestID: "lotse-\(o.caseID)-capture-\(orderID)") {
        case .captured(let order):
            guard let c = order.capture else { return .failed(caseID: o.caseID, reason: "order \(order.status) without capture") }
            return try record(c, orderID: orderID, caseID: o.caseID, expected: o.amount)
        case .notApproved:
            return .notApproved(caseID: o.caseID)
        case .failed(let e):
            logger.error("paypal capture failed: \(e)")
            if e.issue == "INSTRUMENT_DECLINED" || e.status == 422 {
                try setStatus(orderID, "failed")
                try store.write { try CaseQueries.addEvent($0, caseID: o.caseID, kind: "payment_failed", at: now(), detail: "paypal") }
            }
            return .failed(caseID: o.caseID, reason: e.name)
        }
    }

    /// A capture as PayPal reported it: paid only when COMPLETED with the case's amount in EUR; PENDING waits.
    func record(_ c: PayPalAPI.Capture, orderID: String, caseID: Int64, expected: Int) throws -> Completion {
        switch c.status {
        case "COMPLETED":
            guard c.currency == "EUR", let cents = Money.parseCents(c.value) else {
                return .failed(caseID: caseID, reason: "capture in \(c.currency) \(c.value)")
            }
            let now = now()
            let outcome = try store.write { db -> Ledger.Outcome in
                try db.execute(sql: """
                    UPDATE provider_orders SET status = 'completed', capture_id = ?, updated_at = ? WHERE order_id = ?
                    """, arguments: [c.id, now, orderID])
                let p = IncomingPayment(channel: .paypal, amountCents: cents, paidAt: now, source: "paypal",
                                        dedupKey: "paypal:capture:" + c.id, externalID: c.id, reference: orderID,
                                        note: cents == expected ? nil : "captured \(c.value) EUR, expected \(Money.plain(expected))")
                return try Ledger.record(db, p, caseID: caseID, now: now)
            }
            switch outcome {
            case .duplicate: return .paid(caseID: caseID, captureID: c.id, refund: false)
            case .recorded(_, let d):
                if d == .refund { logger.warning("paypal: a second capture for one case; it is on the refund list") }
                return .paid(caseID: caseID, captureID: c.id, refund: d == .refund)
            }
        case "PENDING":
            try setStatus(orderID, "pending", capture: c.id)
            return .pending(caseID: caseID)
        case "DECLINED", "FAILED":
            try setStatus(orderID, "failed", capture: c.id)
            try store.write { try CaseQueries.addEvent($0, caseID: caseID, kind: "payment_denied", at: now(), detail: "paypal") }
            return .failed(caseID: caseID, reason: c.status)
        default:
            return .pending(caseID: caseID)
        }
    }

    public func cancel(orderID: String) throws -> Completion {
        guard let o = try orderRow(orderID) else { return .unknownOrder }
        if o.status == "created" { try setStatus(orderID, "cancelled") }
        return .cancelled(caseID: o.caseID)
    }

    public func refresh(orderID: String) async throws -> Completion {
        guard let o = try orderRow(orderID) else { return .unknownOrder }
        let order = try await api.getOrder(orderID)
        switch order.status {
        case "APPROVED": return try await complete(orderID: orderID)
        case "COMPLETED":
            guard let c = order.capture else { return .failed(caseID: o.caseID, reason: "completed without capture") }
            return try record(c, orderID: orderID, caseID: o.caseID, expected: o.amount)
        case "VOIDED":
            try setStatus(orderID, "cancelled")
            return .cancelled(caseID: o.caseID)
        default:
            return .notApproved(caseID: o.caseID)
        }
    }

    public func handleNotification(headers: [String: String], body: [UInt8]) async throws -> NotificationOutcome {
        guard let webhookID, let event = PayPalAPI.object(body), let eventID = event["id"] as? String,
              let type = event["event_type"] as? String else { return .rejected }
        guard try await api.verifyWebhook(headers: headers, event: event, webhookID: webhookID) else {
            logger.warning("paypal webhook failed verification")
            return .rejected
        }
        let seen = try store.read { try Bool.fetchOne($0, sql: "SELECT 1 FROM webhook_events WHERE id = ?", arguments: ["paypal:" + eventID]) } ?? false
        if seen { return .duplicate }
        let resource = event["resource"] as? [String: Any] ?? [:]
        var outcome = NotificationOutcome.handled(type)
        switch type {
        case "CHECKOUT.ORDER.APPROVED":
            // The motorist's return may never come: capture now (same request id as the return would use).
            if let id = resource["id"] as? String {
                if try orderRow(id) == nil { outcome = .ignored(type) } else {
                    try setStatus(id, "approved")
                    _ = try await complete(orderID: id)
                }
            }
        case "PAYMENT.CAPTURE.COMPLETED":
            if let c = PayPalAPI.capture(resource), let orderID = c.orderID, let o = try orderRow(orderID) {
                _ = try record(c, orderID: orderID, caseID: o.caseID, expected: o.amount)
            } else { outcome = .ignored(type) }
        case "PAYMENT.CAPTURE.DENIED", "PAYMENT.CAPTURE.REFUNDED", "PAYMENT.CAPTURE.REVERSED":
            let orderID = ((resource["supplementary_data"] as? [String: Any])?["related_ids"] as? [String: Any])?["order_id"] as? String
            if let orderID, let o = try orderRow(orderID) {
                let kind = type == "PAYMENT.CAPTURE.DENIED" ? "payment_denied" : "payment_refunded"
                if type == "PAYMENT.CAPTURE.DENIED" { try setStatus(orderID, "failed") }
                try store.write { try CaseQueries.addEvent($0, caseID: o.caseID, kind: kind, at: now(), detail: "paypal") }
            } else { outcome = .ignored(type) }
        default:
            outcome = .ignored(type)
        }
        try store.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO webhook_events (id, provider, kind, received_at) VALUES (?, 'paypal', ?, ?)",
                           arguments: ["paypal:" + eventID, type, now()])
        }
        return outcome
    }

    /// Checks orders that were started but never finished (lost returns, lost webhooks).
    public func sweep(olderThan age: Int64 = 600) async -> (checked: Int, paid: Int) {
        let ids = (try? store.read { try ProviderOrders.stale($0, olderThan: age, now: now()) }) ?? []
        var paid = 0
        for id in ids {
            if case .paid = (try? await refresh(orderID: id)) ?? .unknownOrder { paid += 1 }
        }
        return (ids.count, paid)
    }
}
