import Foundation
import GRDB
import LotseCore

/// The state of an order at an online payment provider, as Lotse keeps it.
public enum OrderStatus: String, Sendable, CaseIterable {
    case created, approved, pending, completed, cancelled, failed
}

/// An order at an online payment provider, as stored: a PayPal order (its id is PayPal's), or a transaction at the
/// e-payment platform (its id is Lotse's `requestId`, the platform's `transactionId` is `externalID`).
public struct ProviderOrder: Sendable, Equatable {
    public var orderID: String
    public var provider: String
    /// The platform's id of the transaction, when it is not `orderID`.
    public var externalID: String?
    public var createdAt: Int64
    public var caseID: Int64
    public var attempt: Int
    public var status: OrderStatus
    public var amountCents: Int
    public var language: String
    public var captureID: String?

    init(row: Row) throws {
        orderID = row["order_id"]
        provider = row["provider"]
        externalID = row["external_id"]
        createdAt = row["created_at"]
        caseID = row["case_id"]
        attempt = row["attempt"]
        guard let s = OrderStatus(rawValue: row["status"]) else {
            throw LotseError.io("provider order \(orderID) has an unknown status \(row["status"] as String? ?? "")")
        }
        status = s
        amountCents = row["amount_cents"]
        language = row["language"]
        captureID = row["capture_id"]
    }
}

/// What a capture decision came to (taken in one write transaction before the provider is asked to capture).
public enum CaptureClaim: Sendable, Equatable {
    /// This order holds the case's claim: capture it.
    case granted(ProviderOrder)
    /// The order was captured already.
    case completed(caseID: Int64, captureID: String?)
    /// The case is paid (by this channel or another): the order is left uncaptured.
    case casePaid(caseID: Int64, captureID: String?)
    /// The case was cancelled by the office: the order is left uncaptured.
    case caseCancelled(caseID: Int64)
    /// Another order of the case holds the claim (its capture is under way or pending).
    case heldBy(caseID: Int64, orderID: String)
    case unknownOrder
}

/// A refund at the provider of money it captured for a case that did not need it.
public struct ProviderRefund: Sendable, Equatable {
    public var captureID: String
    public var orderID: String
    public var caseID: Int64?
    public var amountCents: Int

    public init(captureID: String, orderID: String, caseID: Int64?, amountCents: Int) {
        self.captureID = captureID
        self.orderID = orderID
        self.caseID = caseID
        self.amountCents = amountCents
    }
}

/// Orders at online payment providers, the claim that allows one capture per case, webhook events seen, and refunds
/// made through the provider. Every function runs inside the caller's transaction.
public enum ProviderOrders {
    /// Migration v8 (frozen SQL): request ids stored per attempt, the capture claim per case, provider refunds.
    static func migrateV8(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE order_attempts (
                    case_id INTEGER NOT NULL REFERENCES cases(id),
                    attempt INTEGER NOT NULL,
                    request_id TEXT NOT NULL UNIQUE,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (case_id, attempt)
                ) WITHOUT ROWID;
                CREATE TABLE capture_claims (
                    case_id INTEGER PRIMARY KEY REFERENCES cases(id),
                    order_id TEXT NOT NULL REFERENCES provider_orders(order_id),
                    claimed_at INTEGER NOT NULL
                );
                CREATE TABLE provider_refunds (
                    capture_id TEXT PRIMARY KEY,
                    provider TEXT NOT NULL,
                    order_id TEXT NOT NULL,
                    case_id INTEGER REFERENCES cases(id),
                    amount_cents INTEGER NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('requested', 'completed', 'failed')),
                    refund_id TEXT,
                    requested_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                """
        )
    }

    /// Migration v16 (frozen SQL): the city's e-payment platform (XBezahldienste) as a payment channel, `epayment`;
    /// the provider's own id of an order where Lotse's id is the key (the platform's transaction id).
    static func migrateV16(_ db: Database) throws {
        try db.execute(
            sql: """
                ALTER TABLE provider_orders ADD COLUMN external_id TEXT;
                CREATE INDEX provider_orders_open ON provider_orders (case_id, status);
                PRAGMA writable_schema = ON;
                UPDATE sqlite_schema
                SET sql = replace(sql, 'channel IN (''paypal'', ''bank_transfer'', ''cash'')',
                                       'channel IN (''paypal'', ''bank_transfer'', ''cash'', ''epayment'')')
                WHERE type = 'table' AND name = 'payments';
                PRAGMA writable_schema = OFF;
                """
        )
        let version = try Int.fetchOne(db, sql: "PRAGMA schema_version") ?? 0
        try db.execute(sql: "PRAGMA schema_version = \(version + 1)")
        let table = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'payments'") ?? ""
        guard table.contains("'epayment'") else { throw LotseError.io("migration v16: the payments table's channel check was not widened") }
    }

    public static func caseID(_ db: Database, orderID: String) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT case_id FROM provider_orders WHERE order_id = ?", arguments: [orderID])
    }

    public static func order(_ db: Database, orderID: String) throws -> ProviderOrder? {
        try Row.fetchOne(db, sql: "SELECT * FROM provider_orders WHERE order_id = ?", arguments: [orderID]).map(ProviderOrder.init(row:))
    }

    public static func latestCapture(_ db: Database, caseID: Int64) throws -> PaymentRecord? {
        try Ledger.payments(db, caseID: caseID).last { $0.disposition == .paid }
    }

    /// `provider`'s orders not finished that are older than `age` seconds: candidates for a status check.
    public static func stale(_ db: Database, provider: String, olderThan age: Int64, now: Int64) throws -> [String] {
        try String.fetchAll(
            db,
            sql: """
                SELECT order_id FROM provider_orders
                WHERE provider = ? AND status IN ('created', 'approved', 'pending') AND updated_at <= ?
                ORDER BY created_at
                """,
            arguments: [provider, now - age]
        )
    }

    /// The orders of `caseIDs` not finished (created, approved, pending): what the reminder guard asks about.
    public static func unfinished(_ db: Database, caseIDs: [Int64]) throws -> [ProviderOrder] {
        var found: [ProviderOrder] = []
        for chunk in stride(from: 0, to: caseIDs.count, by: 500) {
            let ids = Array(caseIDs[chunk..<min(chunk + 500, caseIDs.count)])
            found += try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM provider_orders WHERE case_id IN (\(ids.map { _ in "?" }.joined(separator: ",")))
                    AND status IN ('created', 'approved', 'pending') ORDER BY case_id, created_at
                    """,
                arguments: StatementArguments(ids)
            ).map(ProviderOrder.init(row:))
        }
        return found
    }

    /// An attempt whose request id cannot be used again (the platform answered that it knows it, but the reply with
    /// its transaction was lost): noted as a failed order without a link, so that the next attempt takes a new id.
    public static func abandonAttempt(
        _ db: Database,
        requestID: String,
        provider: String,
        caseID: Int64,
        attempt: Int,
        amountCents: Int,
        now: Int64
    ) throws {
        try db.execute(
            sql: """
                INSERT OR IGNORE INTO provider_orders (order_id, provider, case_id, attempt, status, approve_url, amount_cents,
                                                       language, created_at, updated_at)
                VALUES (?, ?, ?, ?, 'failed', '', ?, '', ?, ?)
                """,
            arguments: [requestID, provider, caseID, attempt, amountCents, now, now]
        )
    }

    /// The newest open order of a case created after `since`: its id and approval link.
    public static func openOrder(
        _ db: Database,
        caseID: Int64,
        provider: String,
        since: Int64
    ) throws -> (orderID: String, approveURL: String, amountCents: Int, language: String)? {
        try Row.fetchOne(
            db,
            sql: """
                SELECT order_id, approve_url, amount_cents, language FROM provider_orders
                WHERE case_id = ? AND provider = ? AND status IN ('created', 'approved') AND created_at > ?
                ORDER BY attempt DESC LIMIT 1
                """,
            arguments: [caseID, provider, since]
        ).map { ($0["order_id"], $0["approve_url"], $0["amount_cents"], $0["language"]) }
    }

    /// The next attempt of a case and its request id: random, stored with the attempt, so that two tabs pressing at
    /// once send the same id (and get the same order) while no id ever repeats, after a restore or a reinstall either.
    /// The attempt only moves on when earlier orders are finished (cancelled, failed, or created before `expiredBefore`).
    public static func nextAttempt(_ db: Database, caseID: Int64, expiredBefore: Int64, now: Int64) throws -> (attempt: Int, requestID: String) {
        let closed =
            try Int.fetchOne(
                db,
                sql: """
                    SELECT count(*) FROM provider_orders WHERE case_id = ? AND (status IN ('cancelled', 'failed') OR created_at <= ?)
                    """,
                arguments: [caseID, expiredBefore]
            ) ?? 0
        let attempt = closed + 1
        if let id = try String.fetchOne(
            db,
            sql: "SELECT request_id FROM order_attempts WHERE case_id = ? AND attempt = ?",
            arguments: [caseID, attempt]
        ) {
            return (attempt, id)
        }
        let id = "lotse-" + UUID().uuidString.lowercased()
        try db.execute(
            sql: "INSERT INTO order_attempts (case_id, attempt, request_id, created_at) VALUES (?, ?, ?, ?)",
            arguments: [caseID, attempt, id, now]
        )
        return (attempt, id)
    }

    public enum Insertion: Sendable, Equatable {
        case inserted
        /// The provider answered with an order this case already has (a replayed request id).
        case known
        /// The provider answered with the id of another case's order: refused.
        case otherCase(Int64)
    }

    /// Records an order the provider created; an id already known for another case is refused, never reused.
    public static func insert(
        _ db: Database,
        orderID: String,
        provider: String,
        caseID: Int64,
        attempt: Int,
        approveURL: String,
        amountCents: Int,
        language: String,
        externalID: String? = nil,
        now: Int64
    ) throws -> Insertion {
        if let owner = try Self.caseID(db, orderID: orderID) {
            return owner == caseID ? .known : .otherCase(owner)
        }
        try db.execute(
            sql: """
                INSERT INTO provider_orders (order_id, provider, case_id, attempt, status, approve_url, amount_cents,
                                             language, external_id, created_at, updated_at)
                VALUES (?, ?, ?, ?, 'created', ?, ?, ?, ?, ?, ?)
                """,
            arguments: [orderID, provider, caseID, attempt, approveURL, amountCents, language, externalID, now, now]
        )
        try CaseQueries.addEvent(db, caseID: caseID, kind: .handoffStarted, at: now, detail: provider)
        return .inserted
    }

    /// Sets the status of an order that is not completed; a failed or cancelled order gives up its claim.
    public static func setStatus(_ db: Database, orderID: String, _ status: OrderStatus, captureID: String? = nil, now: Int64) throws {
        try db.execute(
            sql: """
                UPDATE provider_orders SET status = ?, capture_id = coalesce(?, capture_id), updated_at = ?
                WHERE order_id = ? AND status != 'completed'
                """,
            arguments: [status.rawValue, captureID, now, orderID]
        )
        if status == .failed || status == .cancelled { try releaseClaim(db, orderID: orderID) }
    }

    /// Marks an order completed by `captureID`.
    public static func markCompleted(_ db: Database, orderID: String, captureID: String, now: Int64) throws {
        try db.execute(
            sql: "UPDATE provider_orders SET status = 'completed', capture_id = ?, updated_at = ? WHERE order_id = ?",
            arguments: [captureID, now, orderID]
        )
    }

    /// The one decision before a capture: at most one order per case may be captured. Taken in one write transaction,
    /// so two returns, a webhook and the sweep deciding at once see each other's claims.
    public static func claimCapture(_ db: Database, orderID: String, now: Int64) throws -> CaptureClaim {
        guard let o = try order(db, orderID: orderID) else { return .unknownOrder }
        if o.status == .completed { return .completed(caseID: o.caseID, captureID: o.captureID) }
        guard let raw = try String.fetchOne(db, sql: "SELECT status FROM cases WHERE id = ?", arguments: [o.caseID]),
            let caseStatus = CaseStatus(rawValue: raw)
        else { throw LotseError.io("case \(o.caseID) of order \(orderID) is missing or has an unknown status") }
        switch caseStatus {
        case .paid:
            // A pending capture is still watched: its money comes and goes back.
            if o.status != .pending { try setStatus(db, orderID: orderID, .cancelled, now: now) }
            return .casePaid(caseID: o.caseID, captureID: try latestCapture(db, caseID: o.caseID)?.externalID)
        case .cancelled, .handedOver:
            if o.status != .pending { try setStatus(db, orderID: orderID, .cancelled, now: now) }
            return .caseCancelled(caseID: o.caseID)
        case .open, .overdue, .reminded:
            break
        }
        if let holder = try String.fetchOne(
            db,
            sql: """
                SELECT capture_claims.order_id FROM capture_claims JOIN provider_orders USING (order_id)
                WHERE capture_claims.case_id = ? AND provider_orders.status != 'failed'
                """,
            arguments: [o.caseID]
        ), holder != orderID {
            return .heldBy(caseID: o.caseID, orderID: holder)
        }
        try db.execute(
            sql: """
                INSERT INTO capture_claims (case_id, order_id, claimed_at) VALUES (?, ?, ?)
                ON CONFLICT (case_id) DO UPDATE SET order_id = excluded.order_id, claimed_at = excluded.claimed_at
                """,
            arguments: [o.caseID, orderID, now]
        )
        try db.execute(
            sql: """
                UPDATE provider_orders SET status = 'approved', updated_at = ? WHERE order_id = ? AND status IN ('created', 'cancelled')
                """,
            arguments: [now, orderID]
        )
        var granted = o
        if granted.status == .created || granted.status == .cancelled { granted.status = .approved }
        return .granted(granted)
    }

    /// Gives up the claim `orderID` holds (its capture was refused: not approved, declined).
    public static func releaseClaim(_ db: Database, orderID: String) throws {
        try db.execute(sql: "DELETE FROM capture_claims WHERE order_id = ?", arguments: [orderID])
    }

    /// A cancelled case: its open PayPal orders are cancelled (return, webhook and sweep no longer capture them). The
    /// e-payment platform collects by itself and its pay page stays usable: its open transactions become `pending`, still
    /// asked about until the platform says how they ended (money that arrives goes on the refund list).
    public static func cancelOpenOrders(_ db: Database, caseID: Int64, now: Int64) throws {
        try db.execute(
            sql: """
                UPDATE provider_orders SET status = CASE WHEN provider = 'xbd' THEN 'pending' ELSE 'cancelled' END, updated_at = ?
                WHERE case_id = ? AND status IN ('created', 'approved')
                """,
            arguments: [now, caseID]
        )
        try db.execute(
            sql: """
                DELETE FROM capture_claims WHERE case_id = ?
                  AND order_id NOT IN (SELECT order_id FROM provider_orders WHERE status IN ('pending', 'completed'))
                """,
            arguments: [caseID]
        )
    }

    // MARK: webhook events

    public static func webhookSeen(_ db: Database, eventID: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM webhook_events WHERE id = ?", arguments: [eventID]) ?? false
    }

    public static func noteWebhook(_ db: Database, eventID: String, provider: String, kind: String, now: Int64) throws {
        try db.execute(
            sql: "INSERT OR IGNORE INTO webhook_events (id, provider, kind, received_at) VALUES (?, ?, ?, ?)",
            arguments: [eventID, provider, kind, now]
        )
    }

    // MARK: refunds through the provider

    /// Notes that the money of `captureID` is to go back through the provider (once per capture).
    public static func requestRefund(_ db: Database, _ r: ProviderRefund, provider: String, now: Int64) throws {
        try db.execute(
            sql: """
                INSERT OR IGNORE INTO provider_refunds (capture_id, provider, order_id, case_id, amount_cents, status, requested_at, updated_at)
                VALUES (?, ?, ?, ?, ?, 'requested', ?, ?)
                """,
            arguments: [r.captureID, provider, r.orderID, r.caseID, r.amountCents, now, now]
        )
    }

    /// The provider's answer to a refund: completed (the payment leaves the refund list) or failed (the office refunds it).
    public static func refundAnswered(_ db: Database, captureID: String, completed: Bool, refundID: String?, now: Int64) throws {
        try db.execute(
            sql: """
                UPDATE provider_refunds SET status = ?, refund_id = coalesce(?, refund_id), updated_at = ?
                WHERE capture_id = ? AND status != 'completed'
                """,
            arguments: [completed ? "completed" : "failed", refundID, now, captureID]
        )
        // a late refusal after the refund completed changes nothing
        guard db.changesCount == 1 else { return }
        let note = completed ? "refunded through PayPal" + (refundID.map { " (refund \($0))" } ?? "") : "PayPal refused the refund: refund by hand"
        try db.execute(
            sql: "UPDATE payments SET note = ? WHERE channel = 'paypal' AND external_id = ? AND disposition = 'refund'",
            arguments: [note, captureID]
        )
    }

    /// Refunds noted but not answered yet (the call failed or the process stopped).
    public static func refundsRequested(_ db: Database, provider: String) throws -> [ProviderRefund] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT capture_id, order_id, case_id, amount_cents FROM provider_refunds WHERE provider = ? AND status = 'requested'
                ORDER BY requested_at
                """,
            arguments: [provider]
        ).map {
            ProviderRefund(captureID: $0["capture_id"], orderID: $0["order_id"], caseID: $0["case_id"], amountCents: $0["amount_cents"])
        }
    }

    public static func refund(_ db: Database, captureID: String) throws -> (status: String, refundID: String?)? {
        try Row.fetchOne(db, sql: "SELECT status, refund_id FROM provider_refunds WHERE capture_id = ?", arguments: [captureID])
            .map { ($0["status"], $0["refund_id"]) }
    }
}

/// The provider's side of the store: each method one transaction, named for what it does. They are `async` and run on
/// GRDB's own queues (never on the caller's thread: the server calls them from its request handlers); `providerOrder`
/// and `setOrderStatus` also have synchronous forms for `PaymentProvider.cancel`.
extension Store {
    /// The newest open order of a case created after `since`: its id and approval link.
    public func openOrder(
        caseID: Int64,
        provider: String,
        since: Int64
    ) async throws -> (orderID: String, approveURL: String, amountCents: Int, language: String)? {
        try await pool.read { try ProviderOrders.openOrder($0, caseID: caseID, provider: provider, since: since) }
    }

    /// The next attempt of a case and its request id (see `ProviderOrders.nextAttempt`).
    public func nextOrderAttempt(caseID: Int64, expiredBefore: Int64, now: Int64) async throws -> (attempt: Int, requestID: String) {
        try await pool.write { try ProviderOrders.nextAttempt($0, caseID: caseID, expiredBefore: expiredBefore, now: now) }
    }

    /// Records an order the provider created, with the case's `handoff_started` event (see `ProviderOrders.insert`).
    public func insertOrder(
        orderID: String,
        provider: String,
        caseID: Int64,
        attempt: Int,
        approveURL: String,
        amountCents: Int,
        language: String,
        externalID: String? = nil,
        now: Int64
    ) async throws -> ProviderOrders.Insertion {
        try await pool.write {
            try ProviderOrders.insert(
                $0,
                orderID: orderID,
                provider: provider,
                caseID: caseID,
                attempt: attempt,
                approveURL: approveURL,
                amountCents: amountCents,
                language: language,
                externalID: externalID,
                now: now
            )
        }
    }

    /// An attempt whose request id cannot be used again (see `ProviderOrders.abandonAttempt`).
    public func abandonOrderAttempt(requestID: String, provider: String, caseID: Int64, attempt: Int, amountCents: Int, now: Int64) async throws {
        try await pool.write {
            try ProviderOrders.abandonAttempt(
                $0,
                requestID: requestID,
                provider: provider,
                caseID: caseID,
                attempt: attempt,
                amountCents: amountCents,
                now: now
            )
        }
    }

    /// The orders of `caseIDs` not finished (for the reminder guard).
    public func unfinishedOrders(caseIDs: [Int64]) async throws -> [ProviderOrder] {
        try await pool.read { try ProviderOrders.unfinished($0, caseIDs: caseIDs) }
    }

    public func providerOrder(orderID: String) async throws -> ProviderOrder? {
        try await pool.read { try ProviderOrders.order($0, orderID: orderID) }
    }

    /// Sets the status of an order that is not completed; a failed or cancelled order gives up its claim.
    public func setOrderStatus(orderID: String, _ status: OrderStatus, captureID: String? = nil, now: Int64) async throws {
        try await pool.write { try ProviderOrders.setStatus($0, orderID: orderID, status, captureID: captureID, now: now) }
    }

    /// An order that failed at the provider: its status `failed` (the claim goes) and the case's event `event`.
    public func failOrder(orderID: String, caseID: Int64, captureID: String? = nil, event: EventKind, provider: String, now: Int64) async throws {
        try await pool.write { db in
            try ProviderOrders.setStatus(db, orderID: orderID, .failed, captureID: captureID, now: now)
            try CaseQueries.addEvent(db, caseID: caseID, kind: event, at: now, detail: provider)
        }
    }

    /// The one decision before a capture, in one write transaction (see `ProviderOrders.claimCapture`).
    public func claimCapture(orderID: String, now: Int64) async throws -> CaptureClaim {
        try await pool.write { try ProviderOrders.claimCapture($0, orderID: orderID, now: now) }
    }

    /// Gives up the claim `orderID` holds.
    public func releaseCaptureClaim(orderID: String) async throws {
        try await pool.write { try ProviderOrders.releaseClaim($0, orderID: orderID) }
    }

    /// A completed capture, in one write transaction: the order completed, the payment recorded (once per capture, by
    /// its dedup key), and when it is to go back (the case is paid or cancelled) the refund through the provider noted.
    public func recordCapture(
        orderID: String,
        captureID: String,
        payment: IncomingPayment,
        caseID: Int64,
        provider: String,
        now: Int64
    ) async throws -> Ledger.Outcome {
        try await pool.write { db in
            try ProviderOrders.markCompleted(db, orderID: orderID, captureID: captureID, now: now)
            let outcome = try Ledger.record(db, payment, caseID: caseID, now: now)
            // PayPal refunds through its API; the e-payment platform's money goes back through the office (the refund list)
            if outcome.disposition == .refund && provider == "paypal" {
                let refund = ProviderRefund(captureID: captureID, orderID: orderID, caseID: caseID, amountCents: payment.amountCents)
                try ProviderOrders.requestRefund(db, refund, provider: provider, now: now)
            }
            return outcome
        }
    }

    /// The provider's answer to a refund (see `ProviderOrders.refundAnswered`); a completed one adds the case's
    /// `payment_refunded` event.
    public func refundAnswered(_ refund: ProviderRefund, completed: Bool, refundID: String?, provider: String, now: Int64) async throws {
        try await pool.write { db in
            // two answers to one refund (an office pressing twice, the sweep at the same time): one event
            let before = try ProviderOrders.refund(db, captureID: refund.captureID)?.status
            try ProviderOrders.refundAnswered(db, captureID: refund.captureID, completed: completed, refundID: refundID, now: now)
            if completed, before != "completed", let caseID = refund.caseID {
                try CaseQueries.addEvent(db, caseID: caseID, kind: .paymentRefunded, at: now, detail: provider)
            }
        }
    }

    /// Money the provider reports collected that cannot be booked to its case (the amount or currency differ from the
    /// order's): the order failed (for its case), and the payment recorded without a case (the office's unmatched list),
    /// once.
    public func recordUnassignable(orderID: String, transactionID: String, payment: IncomingPayment, now: Int64) async throws -> Ledger.Outcome {
        try await pool.write { db in
            try ProviderOrders.setStatus(db, orderID: orderID, .failed, captureID: transactionID, now: now)
            return try Ledger.record(db, payment, caseID: nil, now: now)
        }
    }

    /// Notes that the money of a capture is to go back through the provider (once per capture).
    public func requestProviderRefund(_ refund: ProviderRefund, provider: String, now: Int64) async throws {
        try await pool.write { try ProviderOrders.requestRefund($0, refund, provider: provider, now: now) }
    }

    /// The refund noted for a capture: its status (`requested`, `completed`, `failed`) and the provider's refund id.
    public func providerRefund(captureID: String) async throws -> (status: String, refundID: String?)? {
        try await pool.read { try ProviderOrders.refund($0, captureID: captureID) }
    }

    /// Refunds noted but not answered yet.
    public func refundsRequested(provider: String) async throws -> [ProviderRefund] {
        try await pool.read { try ProviderOrders.refundsRequested($0, provider: provider) }
    }

    /// `provider`'s orders not finished that are older than `age` seconds.
    public func staleOrders(provider: String, olderThan age: Int64, now: Int64) async throws -> [String] {
        try await pool.read { try ProviderOrders.stale($0, provider: provider, olderThan: age, now: now) }
    }

    public func webhookSeen(eventID: String) async throws -> Bool {
        try await pool.read { try ProviderOrders.webhookSeen($0, eventID: eventID) }
    }

    public func noteWebhook(eventID: String, provider: String, kind: String, now: Int64) async throws {
        try await pool.write { try ProviderOrders.noteWebhook($0, eventID: eventID, provider: provider, kind: kind, now: now) }
    }

    public func providerOrder(orderID: String) throws -> ProviderOrder? {
        try read { try ProviderOrders.order($0, orderID: orderID) }
    }

    public func setOrderStatus(orderID: String, _ status: OrderStatus, captureID: String? = nil, now: Int64) throws {
        try write { try ProviderOrders.setStatus($0, orderID: orderID, status, captureID: captureID, now: now) }
    }
}
