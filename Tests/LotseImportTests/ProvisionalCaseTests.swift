import Foundation
import GRDB
import LotseCore
import LotseImport
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

/// Issue 14: a ticket paid online before its export arrived has a provisional case opened from what its token signs;
/// the export completes that case instead of adding a second one, the office sees where they differ, and a ticket
/// never imported is cancelled with its money on the refund list.
@Suite struct ProvisionalCaseTests {
    static let issued = TimeParser.parse("2026-03-14T08:00")!

    static func signed(_ f: ImportFixture, ticket: UInt32 = 4799, at: Int64 = issued) throws -> SignedTicket {
        let catalogue = try Catalogue(contentsOf: TestSupport.cataloguePath)
        let offence = try #require(catalogue.offences["141312"])
        return SignedTicket(deviceID: "HH-07", ticketNumber: ticket, issuedAt: at, amountCents: offence.amountCents, offence: offence)
    }

    /// A PayPal payment of the provisional case, as the provider books it.
    static func pay(_ f: ImportFixture, caseID: Int64, cents: Int) throws {
        try f.store.write { db in
            _ = try Ledger.record(
                db,
                IncomingPayment(
                    channel: .paypal,
                    amountCents: cents,
                    paidAt: issued + 600,
                    source: "paypal",
                    dedupKey: "paypal:CAP-\(caseID)",
                    externalID: "CAP-\(caseID)"
                ),
                caseID: caseID,
                now: issued + 600
            )
        }
    }

    @Test func theExportCompletesTheProvisionalCaseAndKeepsItsNumberAndPayment() async throws {
        let f = try ImportFixture()
        let ticket = try Self.signed(f)
        let id = try await f.store.provisionalCase(for: ticket, prefix: "KL", paymentDays: 7, now: Self.issued + 60)
        // asked again (a second press, a second tab): the same case
        #expect(try await f.store.provisionalCase(for: ticket, prefix: "KL", paymentDays: 7, now: Self.issued + 90) == id)
        let provisional = try #require(try await f.store.caseRecord(id: id))
        #expect(provisional.isProvisional && provisional.plate.isEmpty && provisional.amountCents == ticket.amountCents)
        #expect(provisional.caseNumber == "KL-2026-0000001")
        try Self.pay(f, caseID: id, cents: ticket.amountCents)
        #expect(try await f.store.caseRecord(id: id)?.status == .paid)
        // not on a reminder list, not among the cases that need a letter with a code
        #expect(try f.store.casesForQR(printedToo: true).isEmpty)

        let csv = f.file(
            "shift.csv",
            header + "\n0004799;HH-07;DN 1;2026-03-14T08:00;KL-AB 123;D;141312;;Markt;1;;67655;Kaiserslautern;1\n"
                + "0004800;HH-07;DN 1;2026-03-14T08:05;KL-CD 456;D;141312;;Markt;2;;67655;Kaiserslautern;1\n"
        )
        let summary = try f.importer.importFile(csv)
        #expect(summary.imported == 2 && summary.duplicates == 0)
        let cases = try f.cases()
        #expect(cases.count == 2)
        let completed = try #require(cases.first { $0.id == id })
        #expect(!completed.isProvisional && completed.plate == "KL-AB 123" && completed.city == "Kaiserslautern")
        #expect(completed.caseNumber == "KL-2026-0000001" && completed.status == .paid && completed.ticketNo == "0004799")
        #expect(cases.first { $0.id != id }?.caseNumber == "KL-2026-0000002")
        let history = try #require(try f.store.caseHistory(number: completed.caseNumber))
        #expect(history.payments.count == 1 && history.payments[0].disposition == .paid)
        let differs = history.events.filter { $0.kind == .ticketDiffers }.compactMap(\.detail)
        #expect(differs.isEmpty, "\(differs)")
        // the same export again: duplicates, nothing new
        let again = try f.importer.importFile(csv)
        #expect(again.imported == 0 && again.duplicates == 2)
    }

    @Test func whereTheExportDiffersItWinsAndTheHistorySaysSo() async throws {
        let f = try ImportFixture()
        let id = try await f.store.provisionalCase(for: try Self.signed(f), prefix: "KL", paymentDays: 7, now: Self.issued + 60)
        // the export says 09:30 and another TBNR (the warden corrected the ticket on the device)
        let csv = f.file("shift.csv", header + "\n4799;HH-07;DN 1;2026-03-14T09:30;KL-AB 123;D;112216;;Markt;1;;67655;Kaiserslautern;1\n")
        #expect(try f.importer.importFile(csv).imported == 1)
        let c = try #require(try await f.store.caseRecord(id: id))
        #expect(c.tbnr == "112216" && c.amountCents == 5500 && !c.isProvisional)
        let differs = try #require(try f.store.caseHistory(number: c.caseNumber)?.events.first { $0.kind == .ticketDiffers })
        #expect(differs.detail?.contains("TBNR signed 141312, exported 112216; amount signed €25.00, exported €55.00") == true, "\(differs)")
        #expect(differs.detail?.contains("time signed 2026-03-14 08:00, exported 2026-03-14 09:30") == true)
    }

    @Test func aTicketNeverImportedIsCancelledAndItsMoneyRefundedAndNeverReminded() async throws {
        let f = try ImportFixture()
        let ticket = try Self.signed(f)
        let id = try await f.store.provisionalCase(for: ticket, prefix: "KL", paymentDays: 7, now: Self.issued + 60)
        let unpaid = try await f.store.provisionalCase(for: try Self.signed(f, ticket: 4801), prefix: "KL", paymentDays: 7, now: Self.issued + 60)
        try Self.pay(f, caseID: id, cents: ticket.amountCents)
        // a month later the dunning run reminds nobody: the unpaid provisional case has no one to write to
        var reminded: [String] = []
        _ = try f.store.dunningRun(
            remindBefore: CivilDate(year: 2026, month: 4, day: 14),
            overdueBefore: CivilDate(year: 2026, month: 4, day: 14),
            runDay: CivilDate(year: 2026, month: 4, day: 14),
            at: Self.issued + 30 * 86400,
            file: "reminders.csv",
            eachReminder: { reminded.append($0.caseNumber) },
            beforeCommit: {}
        )
        #expect(reminded.isEmpty)
        #expect(try await f.store.caseRecord(id: unpaid)?.status == .open)
        // opened before the cutoff: cancelled, the payment on the refund list
        #expect(try f.store.cancelProvisionalCases(openedBefore: Self.issued + 30, pendingDays: 21, now: Self.issued + 22 * 86400) == 0)
        #expect(try f.store.cancelProvisionalCases(openedBefore: Self.issued + 22 * 86400, pendingDays: 21, now: Self.issued + 22 * 86400) == 2)
        #expect(try await f.store.caseRecord(id: id)?.status == .cancelled)
        let refunds = try f.store.refundList()
        #expect(refunds.count == 1 && refunds[0].refundCents == ticket.amountCents)
        #expect(try f.store.cancelProvisionalCases(openedBefore: Self.issued + 40 * 86400, pendingDays: 21, now: Self.issued + 40 * 86400) == 0)
    }

    @Test func aPaidTicketWhoseExportAsksMoreIsOpenAgainAndOneAskingLessHasItsSurplusRefunded() async throws {
        let f = try ImportFixture()
        let more = try await f.store.provisionalCase(for: try Self.signed(f, ticket: 4799), prefix: "KL", paymentDays: 7, now: Self.issued + 60)
        let less = try await f.store.provisionalCase(for: try Self.signed(f, ticket: 4800), prefix: "KL", paymentDays: 7, now: Self.issued + 60)
        try Self.pay(f, caseID: more, cents: 2500)
        try Self.pay(f, caseID: less, cents: 2500)
        // the warden corrected both tickets on the device: 112216 costs 55 EUR, 101024 costs 20 EUR
        let csv = f.file(
            "shift.csv",
            header + "\n4799;HH-07;DN 1;2026-03-14T08:00;KL-AB 123;D;112216;;Markt;1;;67655;Kaiserslautern;1\n"
                + "4800;HH-07;DN 1;2026-03-14T08:00;KL-CD 456;D;101024;;Markt;2;;67655;Kaiserslautern;1\n"
        )
        #expect(try f.importer.importFile(csv).imported == 2)
        let open = try #require(try await f.store.caseRecord(id: more))
        #expect(open.status == .open && open.amountCents == 5500 && open.receivedCents == 2500 && open.dueCents == 3000)
        #expect(try f.store.caseHistory(number: open.caseNumber)?.payments.map(\.disposition) == [.partial])
        let paid = try #require(try await f.store.caseRecord(id: less))
        #expect(paid.status == .paid && paid.amountCents == 2000)
        let refund = try #require(try f.store.caseHistory(number: paid.caseNumber)?.payments.first)
        #expect(refund.disposition == .paid && refund.refundCents == 500)
        #expect(try f.store.refundList().contains { $0.id == refund.id })
    }

    @Test func aLateExportOfACancelledTicketIsACaseOfItsOwnAndLeadingZerosStillMatch() async throws {
        let f = try ImportFixture()
        let cancelled = try await f.store.provisionalCase(for: try Self.signed(f, ticket: 4799), prefix: "KL", paymentDays: 7, now: Self.issued + 60)
        #expect(try f.store.cancelProvisionalCases(openedBefore: Self.issued + 120, pendingDays: 21, now: Self.issued + 22 * 86400) == 1)
        let waiting = try await f.store.provisionalCase(for: try Self.signed(f, ticket: 4711), prefix: "KL", paymentDays: 7, now: Self.issued + 60)
        let csv = f.file(
            "late.csv",
            header + "\n4799;HH-07;DN 1;2026-03-14T08:00;KL-AB 123;D;141312;;Markt;1;;67655;Kaiserslautern;1\n"
                + "0000000000000004711;HH-07;DN 1;2026-03-14T08:00;KL-EF 789;D;141312;;Markt;3;;67655;Kaiserslautern;1\n"
        )
        #expect(try f.importer.importFile(csv).imported == 2)
        let cases = try f.cases()
        #expect(cases.count == 3)
        // the cancelled provisional case stays cancelled; the late ticket is open, and its code leads to it
        #expect(try await f.store.caseRecord(id: cancelled)?.status == .cancelled)
        let late = try #require(cases.first { $0.ticketNo == "4799" && $0.id != cancelled })
        #expect(late.status == .open && late.plate == "KL-AB 123")
        // the query of Devices.caseID (no device is enrolled in this fixture)
        #expect(
            try f.store.read {
                try Int64.fetchOne(
                    $0,
                    sql:
                        "SELECT id FROM cases WHERE device_id = 'HH-07' AND CAST(ticket_no AS INTEGER) = 4799 ORDER BY status = 'cancelled', id LIMIT 1"
                )
            } == late.id
        )
        // nineteen digits with leading zeros are the same ticket 4711: completed, not a second case
        #expect(try await f.store.caseRecord(id: waiting)?.plate == "KL-EF 789")
    }

    @Test func aDeviceIDThatLooksLikeAProvisionalCaseIsRejected() throws {
        let f = try ImportFixture()
        let csv = f.file("claim.csv", header + "\n1;claim:HH;DN 1;2026-03-14T08:00;KL-AB 123;D;141312;;Markt;1;;67655;Kaiserslautern;1\n")
        let summary = try f.importer.importFile(csv)
        #expect(summary.imported == 0 && summary.rejected == 1)
        #expect(try f.rejects(summary).first?.contains("must not begin with 'claim:'") == true)
    }
}
