import Foundation
import GRDB
import LotseCore
import LotseImport
import LotseOffice
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

@Suite struct DunningTests {
    /// The sample export: 24 tickets of 2026-03-14, deadline 2026-03-21, grace 5 days.
    func fixture() throws -> (String, Store, [CaseRecord]) {
        let dir = TestSupport.tempDir("lotse-dunning")
        var config = try LotseConfig(environment: [:])
        config.dataDir = dir
        let store = try Store(path: dir + "/lotse.sqlite")
        _ = try Importer(store: store, config: config, catalogue: try Catalogue(contentsOf: TestSupport.cataloguePath))
            .importFile(TestSupport.pilotData + "/samples/handheld-HH-07-2026-03-14.csv")
        let cases = try store.allCases()
        return (dir, store, cases)
    }

    /// The time a run records: 06:00 on its day.
    func run(_ store: Store, _ day: String, _ out: String) throws -> DunningSummary {
        let d = CivilDate(iso: day)!
        return try Dunning.run(store: store, asOf: d, graceDays: 5, at: BerlinTime.utc(date: d, hour: 6, minute: 0), out: out)
    }

    func status(_ store: Store, _ c: CaseRecord) throws -> CaseStatus { try store.read { try CaseQueries.byID($0, c.id)!.status } }

    func pay(_ store: Store, _ c: CaseRecord, on day: String, key: String) throws {
        _ = try store.write { db in
            try Ledger.record(
                db,
                IncomingPayment(
                    channel: .cash,
                    amountCents: c.amountCents,
                    paidAt: BerlinTime.utc(date: CivilDate(iso: day)!, hour: 12, minute: 0),
                    source: "test",
                    dedupKey: key
                ),
                caseID: c.id
            )
        }
    }

    @Test func remindsOnceAfterDeadlinePlusGraceAcrossStateChanges() throws {
        let (dir, store, cases) = try fixture()
        #expect(cases.first?.deadline == "2026-03-21")
        try pay(store, cases[0], on: "2026-03-20", key: "a")  // paid in time
        try store.write { try Ledger.cancel($0, caseID: cases[1].id, reason: "wrong plate", at: 0) }

        // On the deadline itself nothing happens.
        let d0 = try run(store, "2026-03-21", dir + "/r0.csv")
        #expect(d0.overdue == 0 && d0.reminded == 0)
        // The day after: overdue, but transfers may be in flight: no reminder yet.
        let d1 = try run(store, "2026-03-22", dir + "/r1.csv")
        #expect(d1.overdue == 22 && d1.reminded == 0)
        #expect(try status(store, cases[2]) == .overdue)
        #expect(try String(contentsOfFile: dir + "/r1.csv", encoding: .utf8) == Dunning.header + "\n")
        // A transfer in the grace period closes the case.
        try pay(store, cases[2], on: "2026-03-24", key: "b")
        // Grace over on the 27th (deadline + 5 = 26th): reminders for the 21 still unpaid.
        let d2 = try run(store, "2026-03-27", dir + "/r2.csv")
        #expect(d2.reminded == 21 && d2.overdue == 0)
        let lines = try String(contentsOfFile: dir + "/r2.csv", encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.count == 22)
        #expect(lines[0] == "case_number;ticket_no;plate;offence_date;tbnr;amount_eur;deadline")
        let c = cases[3]
        #expect(
            lines[1]
                == "\(c.caseNumber);\(c.ticketNo!);\(c.plate);2026-03-14;\(c.tbnr);\(Money.plain(c.amountCents).replacingOccurrences(of: ".", with: ","));2026-03-21"
        )
        #expect(
            !lines.contains {
                $0.hasPrefix(cases[0].caseNumber + ";") || $0.hasPrefix(cases[1].caseNumber + ";") || $0.hasPrefix(cases[2].caseNumber + ";")
            }
        )
        #expect(try status(store, c) == .reminded)
        // A second run lists nothing new.
        let d3 = try run(store, "2026-03-28", dir + "/r3.csv")
        #expect(d3.reminded == 0 && d3.overdue == 0)
        // A payment after the reminder still closes the case, and its history keeps the reminder.
        try pay(store, c, on: "2026-04-02", key: "c")
        #expect(try status(store, c) == .paid)
        let kinds = try store.read { try CaseQueries.events($0, caseID: c.id).map(\.kind) }
        #expect(kinds.contains(.imported) && kinds.filter { $0 != .imported } == [.overdue, .reminder, .paid])
        #expect(try status(store, cases[1]) == .cancelled)
        #expect(try store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM events WHERE kind = 'reminder'") } == 21)
    }

    @Test func aLockedDatabaseWritesNoList() throws {
        let (dir, store, _) = try fixture()
        let blocker = try DatabaseQueue(path: dir + "/lotse.sqlite")
        let impatient = try Store(path: dir + "/lotse.sqlite", busyTimeout: 0)
        try blocker.inDatabase { db in
            try db.execute(sql: "BEGIN IMMEDIATE")
            #expect(throws: LotseError.self) {
                try Dunning.run(store: impatient, asOf: CivilDate(iso: "2026-04-30")!, graceDays: 5, at: 1, out: dir + "/r.csv")
            }
            try db.execute(sql: "ROLLBACK")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/r.csv"))
        _ = store
    }
}
