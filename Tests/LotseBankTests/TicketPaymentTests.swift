import Foundation
import LotseBank
import LotseCore
import LotseImport
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

/// Issue 14: a transfer with a ticket's reference (or its device and number in the text) made before the ticket
/// was imported waits for it, closes its case at import, and goes to the refund list after LOTSE_PENDING_DAYS.
@Suite struct TicketPaymentTests {
    @Test func aTransferBeforeImportClosesTheCaseWhenTheTicketArrives() throws {
        let f = try BankFixture()
        _ = try f.store.enrollDevice(id: "HH-07", keyID: 1, now: 1_000)
        let ticketRF = try #require(RFReference.make(from: "HH074799"))
        var camt = Camt(kind: "camt.054.001.08")
        // the ticket's RF reference; the device and number in the text; a ticket of an unknown device
        camt.entry("25.00", ref: "T-1", [Camt.Tx(amount: "25.00", ref: ticketRF, bankRef: "B-1")])
        camt.entry("25.00", ref: "T-2", [Camt.Tx(amount: "25.00", text: ["Strafzettel HH-07 0004800 vom 14.03."], bankRef: "B-2")])
        camt.entry("25.00", ref: "T-3", [Camt.Tx(amount: "25.00", text: ["Knoellchen ZZ-01 4801"], bankRef: "B-3")])
        // an imported ticket by its device and number: paid at once
        camt.entry("35.00", ref: "T-4", [Camt.Tx(amount: "35.00", text: ["HH07/4711"], bankRef: "B-4")])
        let summary = try f.reconciler.reconcile(f.file("early.xml", camt.xml))
        #expect(summary.matched == 1 && summary.unmatched == 3, "\(summary)")
        let waiting = try f.list(.unmatched)
        #expect(waiting.filter { $0.note?.contains("is not imported yet") == true }.count == 2)
        #expect(try f.cases().first { $0.ticketNo == "0004711" }?.status == .paid)

        // the evening export brings 0004799 and 0004800: both cases are paid at import
        let export = f.file(
            "evening.csv",
            """
            ticket_no;device_id;issued_at;plate;tbnr;street;city
            0004799;HH-07;2026-03-14T10:00;KL-QQ 1;141312;Markt;Kaiserslautern
            0004800;HH-07;2026-03-14T10:05;KL-QQ 2;141312;Markt;Kaiserslautern
            0004802;HH-07;2026-03-14T10:10;KL-QQ 3;141312;Markt;Kaiserslautern

            """
        )
        let imported = try Importer(store: f.store, config: f.config, catalogue: try Catalogue(contentsOf: TestSupport.cataloguePath)).importFile(
            export
        )
        #expect(imported.imported == 3)
        let cases = try f.cases()
        #expect(cases.first { $0.ticketNo == "0004799" }?.status == .paid)
        #expect(cases.first { $0.ticketNo == "0004800" }?.status == .paid)
        #expect(cases.first { $0.ticketNo == "0004802" }?.status == .open)
        #expect(try f.list(.unmatched).count == 1)
        // importing again changes nothing
        _ = try Importer(store: f.store, config: f.config, catalogue: try Catalogue(contentsOf: TestSupport.cataloguePath)).importFile(export)
        #expect(try f.list(.paid).count == 3)
    }

    @Test func aTicketNeverImportedGivesItsPaymentBackAfterThePendingDays() throws {
        let dir = TestSupport.tempDir("lotse-pending-days")
        let env = ["LOTSE_DATA_DIR": dir, "LOTSE_PILOT_DATA": TestSupport.pilotData, "LOTSE_PENDING_DAYS": "21"]
        #expect(try TestSupport.lotse(["devices", "add", "HH-07"], dataDir: dir, env: env).status == 0)
        let ticketRF = try #require(RFReference.make(from: "HH074799"))
        var camt = Camt(kind: "camt.054.001.08")
        camt.entry("25.00", ref: "T-1", date: "2026-03-18", [Camt.Tx(amount: "25.00", ref: ticketRF, bankRef: "B-1")])
        TestSupport.write(dir + "/early.xml", camt.xml)
        #expect(try TestSupport.lotse(["reconcile", dir + "/early.xml"], dataDir: dir, env: env).stdout.contains("unmatched 1"))
        // 20 days later it still waits; 22 days later it is on the refund list
        let early = try TestSupport.lotse(["dunning", "--as-of", "2026-04-07", "--out", dir + "/r1.csv"], dataDir: dir, env: env)
        #expect(early.status == 0 && !early.stdout.contains("refund list"), "\(early.stderr)")
        let late = try TestSupport.lotse(["dunning", "--as-of", "2026-04-10", "--out", dir + "/r2.csv"], dataDir: dir, env: env)
        #expect(late.stdout.contains("1 payment waited more than 21 days"), "\(late.stdout)")
        let refunds = try TestSupport.lotse(["payments", "list", "refunds"], dataDir: dir, env: env)
        #expect(refunds.stdout.contains("25"), "\(refunds.stdout) \(refunds.stderr)")
    }
}
