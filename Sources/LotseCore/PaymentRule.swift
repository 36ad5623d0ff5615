/// What became of a payment.
public enum Disposition: String, Sendable, Codable, CaseIterable {
    /// It closed its case (with any surplus in `refund_cents`).
    case paid
    /// Too little: the case stays open and the office sees the payment.
    case partial
    /// For a case already paid or cancelled: the whole amount goes back.
    case refund
    /// No case found: listed for the office, which can assign it by hand.
    case unmatched
    /// Not acceptable as it stands (e.g. a batch whose parts do not add up).
    case rejected
}

/// The pilot's payment policy: what a payment does to the case it is for. Pure, so that every channel (bank file,
/// cash office, provider capture, the office assigning by hand) applies the same rule, and a test can state it.
public enum PaymentRule {
    public struct Decision: Sendable, Equatable {
        public var disposition: Disposition
        /// Cents to pay back: the whole payment, or the surplus over the case's amount.
        public var refundCents: Int
        /// Why, for the office's lists.
        public var note: String?
    }

    /// A payment of `amountCents` in `currency` for a case in `status` that asks `caseAmountCents` and has received
    /// `partialsCents` in earlier partial payments: closes it when the payments reach its amount (the surplus is to
    /// be refunded), leaves it open when they fall short, is refunded whole when the case is paid, cancelled or handed over, or
    /// when the money is not in euros.
    public static func decide(
        status: CaseStatus,
        caseAmountCents: Int,
        partialsCents: Int,
        amountCents: Int,
        currency: String
    ) -> Decision {
        if currency != "EUR" {
            return Decision(disposition: .refund, refundCents: amountCents, note: "currency \(currency.prefix(10)) is not EUR")
        }
        switch status {
        case .paid:
            return Decision(disposition: .refund, refundCents: amountCents, note: "case already paid")
        case .cancelled:
            return Decision(disposition: .refund, refundCents: amountCents, note: "case cancelled")
        case .handedOver:
            // the Bußgeld procedure decides now: the office passes the money on or pays it back
            return Decision(disposition: .refund, refundCents: amountCents, note: "case handed over to the Bußgeld procedure")
        case .open, .overdue, .reminded:
            let total = partialsCents + amountCents
            if total < caseAmountCents {
                return Decision(disposition: .partial, refundCents: 0, note: "short by \(Money.plain(caseAmountCents - total)) EUR")
            }
            let surplus = total - caseAmountCents
            return Decision(disposition: .paid, refundCents: surplus, note: surplus > 0 ? "surplus \(Money.plain(surplus)) EUR to refund" : nil)
        }
    }
}
