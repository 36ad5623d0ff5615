import GRDB
import LotseCore

/// The office's side of the payment ledger: each method one transaction, named for what it does.
extension Store {
    /// The payments with this disposition, in the order they were recorded.
    public func payments(_ disposition: Disposition) throws -> [PaymentRecord] {
        try read { try Ledger.list($0, disposition) }
    }

    /// Where a payment stands with the refund list: on it (with what is to go back), refunded through its provider
    /// already, or not on it (unknown, or nothing to pay back).
    public enum RefundStanding: Sendable, Equatable {
        case onList(PaymentRecord)
        case refundedAlready(refundID: String?)
        case notOnList
    }

    public func refundStanding(paymentID: Int64) async throws -> RefundStanding {
        try await pool.read { db in
            guard let p = try PaymentRecord.fetchOne(db, sql: Ledger.select + " WHERE payments.id = ?", arguments: [paymentID]), p.refundCents > 0
            else { return .notOnList }
            if p.channel == .paypal, let capture = p.externalID, let r = try ProviderOrders.refund(db, captureID: capture), r.status == "completed" {
                return .refundedAlready(refundID: r.refundID)
            }
            return .onList(p)
        }
    }

    /// Everything to pay back (see `Ledger.refunds`).
    public func refundList() throws -> [PaymentRecord] {
        try read { try Ledger.refunds($0) }
    }

    /// Assigns an unmatched (or rejected) payment to the case with this number by hand, with the case's
    /// `payment_assigned` event: what became of the payment and the case's number.
    public func assignPayment(id paymentID: Int64, toCase number: String, at: Int64) throws -> (disposition: Disposition, caseNumber: String) {
        try write { db in
            guard let c = try CaseQueries.byNumber(db, number) else { throw LotseError.input("case \(number) not found") }
            let disposition = try Ledger.assign(db, paymentID: paymentID, caseID: c.id)
            try CaseQueries.addEvent(db, caseID: c.id, kind: .paymentAssigned, at: at, detail: "payment \(paymentID)")
            return (disposition, c.caseNumber)
        }
    }

    /// Cancels the case with this number (an office correction): money received for it goes on the refund list and its
    /// open orders at providers are cancelled (return, webhook and sweep never capture them). Returns the case's number
    /// and how many of its payments are to be refunded.
    public func cancelCase(number: String, reason: String, at: Int64) throws -> (caseNumber: String, refunds: Int) {
        try write { db in
            guard let c = try CaseQueries.byNumber(db, number) else { throw LotseError.input("case \(number) not found") }
            guard c.status != .cancelled else { throw LotseError.input("case \(c.caseNumber) is already cancelled") }
            try Ledger.cancel(db, caseID: c.id, reason: reason, at: at)
            try ProviderOrders.cancelOpenOrders(db, caseID: c.id, now: at)
            return (c.caseNumber, try Ledger.payments(db, caseID: c.id).filter { $0.refundCents > 0 }.count)
        }
    }
}
