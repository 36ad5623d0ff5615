import Foundation
import GRDB
import LotseCore

/// A payment as it arrives from a bank file, the cash office or a provider.
public struct IncomingPayment: Sendable {
    public var channel: PaymentChannel
    public var amountCents: Int
    public var currency: String
    public var paidAt: Int64
    public var source: String
    /// Identifies the payment across files and retries; a second payment with the same key is a duplicate.
    public var dedupKey: String
    public var externalID: String?
    public var payer: String?
    public var reference: String?
    public var note: String?
    /// For an unmatched payment whose reference names a ticket of an enrolled handheld not imported yet: the ticket
    /// it waits for (applied when the ticket is imported; refunded after `LOTSE_PENDING_DAYS`).
    public var ticket: TicketReference?

    public init(
        channel: PaymentChannel,
        amountCents: Int,
        currency: String = "EUR",
        paidAt: Int64,
        source: String,
        dedupKey: String,
        externalID: String? = nil,
        payer: String? = nil,
        reference: String? = nil,
        note: String? = nil
    ) {
        self.channel = channel
        self.amountCents = amountCents
        self.currency = currency
        self.paidAt = paidAt
        self.source = source
        self.dedupKey = dedupKey
        self.externalID = externalID
        self.payer = payer
        self.reference = reference
        self.note = note
    }
}

/// A stored payment.
public struct PaymentRecord: Sendable, Equatable, FetchableRecord, Encodable {
    public var id: Int64
    public var caseID: Int64?
    public var caseNumber: String?
    public var channel: PaymentChannel
    public var amountCents: Int
    public var currency: String
    public var paidAt: Int64
    public var disposition: Disposition
    public var refundCents: Int
    public var source: String
    public var externalID: String?
    public var payer: String?
    public var reference: String?
    public var note: String?

    public init(row: Row) throws {
        id = row["id"]
        caseID = row["case_id"]
        caseNumber = row["case_number"]
        channel = try Vocabulary.decode(row["channel"] as String, column: "payments.channel")
        amountCents = row["amount_cents"]
        currency = row["currency"]
        paidAt = row["paid_at"]
        disposition = try Vocabulary.decode(row["disposition"] as String, column: "payments.disposition")
        refundCents = row["refund_cents"]
        source = row["source"]
        externalID = row["external_id"]
        payer = row["payer"]
        reference = row["reference"]
        note = row["note"]
    }
}

/// The payment ledger: records payments, applies them to cases (paid, partial, refund) exactly once.
/// Every function runs inside the caller's write transaction.
public enum Ledger {
    /// Hot paths run once per payment of a bank file: prepared statements are cached per connection.
    static func exec(_ db: Database, _ sql: String, _ args: StatementArguments) throws {
        try db.cachedStatement(sql: sql).execute(arguments: args)
    }

    public enum Outcome: Sendable, Equatable {
        case duplicate
        case recorded(id: Int64, disposition: Disposition)

        public var disposition: Disposition? {
            if case .recorded(_, let d) = self { return d }
            return nil
        }
    }

    public static func isKnown(_ db: Database, dedupKey: String) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM payments WHERE dedup_key = ?"), arguments: [dedupKey]) ?? false
    }

    /// Records a payment and applies it to `caseID` (nil: unmatched). `rejected` records it as rejected with `note`.
    public static func record(
        _ db: Database,
        _ p: IncomingPayment,
        caseID: Int64?,
        rejected: Bool = false,
        now: Int64 = Int64(Date().timeIntervalSince1970)
    ) throws -> Outcome {
        if try isKnown(db, dedupKey: p.dedupKey) { return .duplicate }
        var decision = Decision(disposition: rejected ? .rejected : .unmatched, refund: 0, note: nil, partialsBefore: 0)
        if let caseID, !rejected {
            decision = try decide(db, caseID: caseID, amount: p.amountCents, currency: p.currency, excluding: nil)
        }
        try exec(
            db,
            """
            INSERT INTO payments (case_id, channel, amount_cents, currency, paid_at, disposition, refund_cents, source, dedup_key,
                                  external_id, payer, reference, note, recorded_at, ticket_device, ticket_number)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                rejected ? nil : caseID, p.channel.rawValue, p.amountCents, p.currency, p.paidAt, decision.disposition.rawValue,
                decision.refund, p.source, p.dedupKey, p.externalID, p.payer, p.reference, decision.note ?? p.note, now,
                caseID == nil && !rejected ? p.ticket?.deviceID : nil, caseID == nil && !rejected ? p.ticket.map { Int64($0.number) } : nil,
            ]
        )
        let id = db.lastInsertedRowID
        if let caseID, !rejected {
            try effects(db, decision, caseID: caseID, amount: p.amountCents, paidAt: p.paidAt, channel: p.channel.rawValue)
        }
        return .recorded(id: id, disposition: decision.disposition)
    }

    struct Decision {
        var disposition: Disposition
        var refund: Int
        var note: String?
        var partialsBefore: Int
    }

    /// Migration v15 (frozen SQL): `received_cents`, the sum of a case's partial payments (the payments stay the
    /// record; this copy is what the pages read with the case), filled from the payments, and logged for the case
    /// cache when another process changes it.
    static func migrateV15(_ db: Database) throws {
        try db.execute(
            sql: """
                ALTER TABLE cases ADD COLUMN received_cents INTEGER NOT NULL DEFAULT 0;
                UPDATE cases SET received_cents = (
                    SELECT coalesce(sum(amount_cents), 0) FROM payments p WHERE p.case_id = cases.id AND p.disposition = 'partial')
                WHERE id IN (SELECT case_id FROM payments WHERE disposition = 'partial');
                CREATE TRIGGER cases_received_changed AFTER UPDATE OF received_cents ON cases
                BEGIN
                    INSERT INTO case_changes (case_id) VALUES (NEW.id);
                END;
                """
        )
    }

    /// Reads what the payment rule needs about the case (its status, its amount, earlier partial payments other
    /// than `excluding`) and applies `PaymentRule.decide`.
    static func decide(_ db: Database, caseID: Int64, amount: Int, currency: String, excluding: Int64?) throws -> Decision {
        guard let c = try Row.fetchOne(db.cachedStatement(sql: "SELECT status, amount_cents FROM cases WHERE id = ?"), arguments: [caseID]) else {
            throw LotseError.input("case \(caseID) does not exist")
        }
        let status: CaseStatus = try Vocabulary.decode(c["status"] as String, column: "cases.status")
        let partials =
            status.isPayable
            ? try Int.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT coalesce(sum(amount_cents), 0) FROM payments WHERE case_id = ? AND disposition = 'partial' AND id != ?
                        """
                ),
                arguments: [caseID, excluding ?? -1]
            ) ?? 0 : 0
        let rule = PaymentRule.decide(
            status: status,
            caseAmountCents: c["amount_cents"],
            partialsCents: partials,
            amountCents: amount,
            currency: currency
        )
        return Decision(disposition: rule.disposition, refund: rule.refundCents, note: rule.note, partialsBefore: partials)
    }

    /// The case side of a decision: its status, earlier partial payments, the event.
    static func effects(_ db: Database, _ d: Decision, caseID: Int64, amount: Int, paidAt: Int64, channel: String) throws {
        switch d.disposition {
        case .paid:
            if d.partialsBefore > 0 {
                try exec(db, "UPDATE payments SET disposition = 'paid' WHERE case_id = ? AND disposition = 'partial'", [caseID])
            }
            try exec(db, "UPDATE cases SET status = 'paid', paid_at = ?, paid_channel = ? WHERE id = ?", [paidAt, channel, caseID])
            try CaseQueries.addEvent(db, caseID: caseID, kind: .paid, at: paidAt, detail: channel)
        case .partial:
            try exec(db, "UPDATE cases SET received_cents = received_cents + ? WHERE id = ?", [amount, caseID])
            try CaseQueries.addEvent(db, caseID: caseID, kind: .partialPayment, at: paidAt, detail: channel)
        case .refund:
            try CaseQueries.addEvent(db, caseID: caseID, kind: .refundDue, at: paidAt, detail: channel)
        case .unmatched, .rejected:
            break
        }
    }

    /// Applies a stored payment to a case (the office assigning it by hand).
    @discardableResult
    public static func apply(_ db: Database, paymentID: Int64, caseID: Int64) throws -> Disposition {
        guard
            let p = try Row.fetchOne(
                db,
                sql: "SELECT amount_cents, currency, paid_at, channel FROM payments WHERE id = ?",
                arguments: [paymentID]
            )
        else { throw LotseError.input("payment \(paymentID) does not exist") }
        let d = try decide(db, caseID: caseID, amount: p["amount_cents"], currency: p["currency"], excluding: paymentID)
        try db.execute(
            sql: "UPDATE payments SET case_id = ?, disposition = ?, refund_cents = ?, note = coalesce(?, note) WHERE id = ?",
            arguments: [caseID, d.disposition.rawValue, d.refund, d.note, paymentID]
        )
        try effects(db, d, caseID: caseID, amount: p["amount_cents"], paidAt: p["paid_at"], channel: p["channel"])
        return d.disposition
    }

    /// Assigns an unmatched (or rejected) payment to a case by hand.
    public static func assign(_ db: Database, paymentID: Int64, caseID: Int64) throws -> Disposition {
        guard let d = try String.fetchOne(db, sql: "SELECT disposition FROM payments WHERE id = ?", arguments: [paymentID]) else {
            throw LotseError.input("payment \(paymentID) does not exist")
        }
        guard d == Disposition.unmatched.rawValue || d == Disposition.rejected.rawValue else {
            throw LotseError.input("payment \(paymentID) is already \(d); only unmatched or rejected payments can be assigned")
        }
        try db.execute(sql: "UPDATE payments SET note = 'assigned by the office' WHERE id = ?", arguments: [paymentID])
        return try apply(db, paymentID: paymentID, caseID: caseID)
    }

    /// Weighs the payments of a case whose amount changed after money arrived for it (the export of a ticket paid
    /// before its import names another offence: the export wins) against the new amount: enough, and the case is
    /// paid, any surplus to be refunded with its last payment; too little, and it is open again with what arrived
    /// counted as partial payments. Inside the caller's transaction.
    static func reassess(_ db: Database, caseID: Int64, at: Int64) throws {
        guard let row = try Row.fetchOne(db, sql: "SELECT status, amount_cents FROM cases WHERE id = ?", arguments: [caseID]) else { return }
        let status: CaseStatus = try Vocabulary.decode(row[0] as String, column: "cases.status")
        guard status.isPayable || status == .paid else { return }
        let amount: Int = row[1]
        let payments = try Row.fetchAll(
            db,
            sql: """
                SELECT id, amount_cents, paid_at, channel FROM payments
                WHERE case_id = ? AND disposition IN ('paid', 'partial') ORDER BY paid_at, id
                """,
            arguments: [caseID]
        )
        guard let last = payments.last else { return }
        let received = payments.reduce(0) { $0 + ($1[1] as Int) }
        if received >= amount {
            try exec(
                db,
                "UPDATE payments SET disposition = 'paid', refund_cents = 0 WHERE case_id = ? AND disposition IN ('paid', 'partial')",
                [caseID]
            )
            if received > amount {
                try exec(
                    db,
                    "UPDATE payments SET refund_cents = ?, note = 'surplus after the export changed the amount' WHERE id = ?",
                    [received - amount, last[0] as Int64]
                )
                try CaseQueries.addEvent(db, caseID: caseID, kind: .refundDue, at: at, detail: "amount changed by the export")
            }
            if status != .paid {
                try exec(
                    db,
                    "UPDATE cases SET status = 'paid', paid_at = ?, paid_channel = ?, received_cents = 0 WHERE id = ?",
                    [
                        last[2] as Int64, last[3] as String, caseID,
                    ]
                )
                try CaseQueries.addEvent(db, caseID: caseID, kind: .paid, at: at, detail: last[3] as String)
            }
        } else {
            try exec(
                db,
                "UPDATE payments SET disposition = 'partial', refund_cents = 0 WHERE case_id = ? AND disposition IN ('paid', 'partial')",
                [caseID]
            )
            try exec(
                db,
                "UPDATE cases SET status = 'open', paid_at = NULL, paid_channel = NULL, received_cents = ? WHERE id = ?",
                [received, caseID]
            )
            try CaseQueries.addEvent(db, caseID: caseID, kind: .partialPayment, at: at, detail: "the export's amount is more than was paid")
        }
    }

    /// Cancels a case; money already received for it goes on the refund list.
    public static func cancel(_ db: Database, caseID: Int64, reason: String, at: Int64) throws {
        try db.execute(sql: "UPDATE cases SET status = 'cancelled' WHERE id = ?", arguments: [caseID])
        try db.execute(
            sql: """
                UPDATE payments SET disposition = 'refund', refund_cents = amount_cents, note = 'case cancelled'
                WHERE case_id = ? AND disposition IN ('paid', 'partial')
                """,
            arguments: [caseID]
        )
        try CaseQueries.addEvent(db, caseID: caseID, kind: .cancelled, at: at, detail: reason)
    }

    static let select = "SELECT payments.*, cases.case_number FROM payments LEFT JOIN cases ON cases.id = payments.case_id"

    public static func payments(_ db: Database, caseID: Int64) throws -> [PaymentRecord] {
        try PaymentRecord.fetchAll(db, sql: select + " WHERE case_id = ? ORDER BY paid_at, payments.id", arguments: [caseID])
    }

    public static func list(_ db: Database, _ d: Disposition) throws -> [PaymentRecord] {
        try PaymentRecord.fetchAll(db, sql: select + " WHERE disposition = ? ORDER BY payments.id", arguments: [d.rawValue])
    }

    /// Everything to pay back: refunds and the surplus of paid payments, less what the provider has refunded already.
    /// The payments of the refund list: money to pay back that PayPal has not refunded already.
    /// A payment the office paid back by hand is noted as refund `payment:{id}` of provider `office`.
    static let onRefundList = """
        refund_cents > 0 AND NOT (payments.channel = 'paypal' AND EXISTS (
            SELECT 1 FROM provider_refunds r WHERE r.capture_id = payments.external_id AND r.status = 'completed'))
        AND NOT EXISTS (SELECT 1 FROM provider_refunds r WHERE r.capture_id = 'payment:' || payments.id AND r.status = 'completed')
        """

    public static func refunds(_ db: Database) throws -> [PaymentRecord] {
        try PaymentRecord.fetchAll(db, sql: select + " WHERE " + onRefundList + " ORDER BY payments.id")
    }

    /// How many payments the refund list holds (for `/metrics`, without reading them).
    static func refundCount(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM payments WHERE " + onRefundList) ?? 0
    }
}
