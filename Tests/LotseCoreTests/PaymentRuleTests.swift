import LotseCore
import Testing

/// The payment rule, stated once (issue 13: rules in the domain, storage keeps data).
@Suite struct PaymentRuleTests {
    @Test(arguments: [
        // status, case amount, earlier partials, payment, currency → disposition, refund
        (CaseStatus.open, 5500, 0, 5500, "EUR", Disposition.paid, 0),
        (.overdue, 5500, 0, 6000, "EUR", .paid, 500),
        (.reminded, 5500, 0, 3000, "EUR", .partial, 0),
        (.open, 5500, 3000, 2500, "EUR", .paid, 0),
        (.open, 5500, 3000, 3000, "EUR", .paid, 500),
        (.open, 5500, 3000, 1000, "EUR", .partial, 0),
        (.paid, 5500, 0, 5500, "EUR", .refund, 5500),
        (.cancelled, 5500, 0, 100, "EUR", .refund, 100),
        (.open, 5500, 0, 5500, "USD", .refund, 5500),
    ])
    func decide(
        status: CaseStatus,
        caseAmount: Int,
        partials: Int,
        amount: Int,
        currency: String,
        disposition: Disposition,
        refund: Int
    ) {
        let d = PaymentRule.decide(
            status: status,
            caseAmountCents: caseAmount,
            partialsCents: partials,
            amountCents: amount,
            currency: currency
        )
        #expect(d.disposition == disposition)
        #expect(d.refundCents == refund)
    }

    @Test func theNotesSayWhy() {
        #expect(
            PaymentRule.decide(status: .open, caseAmountCents: 5500, partialsCents: 0, amountCents: 3000, currency: "EUR").note
                == "short by 25.00 EUR"
        )
        #expect(
            PaymentRule.decide(status: .open, caseAmountCents: 5500, partialsCents: 0, amountCents: 6000, currency: "EUR").note
                == "surplus 5.00 EUR to refund"
        )
        #expect(
            PaymentRule.decide(status: .paid, caseAmountCents: 5500, partialsCents: 0, amountCents: 10, currency: "EUR").note
                == "case already paid"
        )
    }
}
