import Foundation
import GRDB
import LotseCore
import LotseImport
import LotseOffice
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

/// Issue 18: personal data is erased when the retention period after a case is closed ends; unpaid cases are handed
/// over to the Bußgeld procedure. The statistics and the books stay as they were.
@Suite struct RetentionTests {
    /// The sample export (24 tickets of 2026-03-14), a payer's transfer for the first, the second cancelled, the
    /// dunning run of 2026-03-27 reminding the rest.
    func fixture() throws -> (dir: String, store: Store, cases: [CaseRecord]) {
        let dir = TestSupport.tempDir("lotse-retention")
        var config = try LotseConfig(environment: [:])
        config.dataDir = dir
        let store = try Store(path: dir + "/lotse.sqlite")
        _ = try Importer(store: store, config: config, catalogue: try Catalogue(contentsOf: TestSupport.cataloguePath))
            .importFile(TestSupport.pilotData + "/samples/handheld-HH-07-2026-03-14.csv")
        let cases = try store.allCases()
        _ = try store.write { db in
            try Ledger.record(
                db,
                IncomingPayment(
                    channel: .bankTransfer,
                    amountCents: cases[0].amountCents,
                    paidAt: BerlinTime.utc(date: CivilDate(year: 2026, month: 3, day: 18), hour: 12, minute: 0),
                    source: "camt.xml",
                    dedupKey: "camt-e2e:E2E-1|DE02120300000000202051|\(cases[0].amountCents)",
                    payer: "Erika Mustermann",
                    reference: "Verwarnung \(cases[0].caseNumber) KL-AB 123"
                ),
                caseID: cases[0].id
            )
        }
        let cancelledAt = BerlinTime.utc(date: CivilDate(year: 2026, month: 3, day: 18), hour: 9, minute: 0)
        try store.write { try Ledger.cancel($0, caseID: cases[1].id, reason: "Halter Max Muster widerspricht", at: cancelledAt) }
        let day = CivilDate(year: 2026, month: 3, day: 27)
        _ = try Dunning.run(store: store, asOf: day, graceDays: 5, at: BerlinTime.utc(date: day, hour: 6, minute: 0), out: dir + "/r.csv")
        return (dir, store, cases)
    }

    func record(_ store: Store, _ c: CaseRecord) throws -> CaseRecord { try store.read { try CaseQueries.byID($0, c.id)! } }

    @Test func closedCasesLoseTheirPersonalDataAfterTheRetentionPeriodAndTheStatisticsStay() async throws {
        let (dir, store, cases) = try fixture()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let before = try store.statisticsSnapshot()
        // a rejects file of the same age as the cases, and a fresh one
        try FileManager.default.createDirectory(atPath: dir + "/rejects", withIntermediateDirectories: true)
        TestSupport.write(dir + "/rejects/old.csv.20260314T200000Z.rejects.csv", "line;reason;raw\n3;bad;KL-XY 1\n")
        TestSupport.write(dir + "/rejects/new.csv.20261201T200000Z.rejects.csv", "line;reason;raw\n3;bad;KL-XY 2\n")
        let old = BerlinTime.utc(date: CivilDate(year: 2026, month: 3, day: 20), hour: 20, minute: 0)
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSince1970: TimeInterval(old))],
            ofItemAtPath: dir + "/rejects/old.csv.20260314T200000Z.rejects.csv"
        )

        // the warden's photo of the paid case, and a statement with an attachment on it (issue 16): both personal
        try FileManager.default.createDirectory(atPath: dir + "/evidence", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/statements", withIntermediateDirectories: true)
        TestSupport.write(dir + "/evidence/p1.jpg", bytes: TestSupport.jpegWithExif)
        TestSupport.write(dir + "/statements/s1.pdf", "%PDF-1.4 Max Muster")
        // a photo file no photo names (an import that rolled back), a day old, and one just written
        TestSupport.write(dir + "/evidence/orphan.jpg", bytes: TestSupport.jpegWithExif)
        TestSupport.write(dir + "/evidence/fresh.jpg", bytes: TestSupport.jpegWithExif)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 0)], ofItemAtPath: dir + "/evidence/orphan.jpg")
        // and an attachment no statement names (an upload the server was killed in), a day old
        TestSupport.write(dir + "/statements/orphan.pdf", "%PDF-1.4 Erika Muster")
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 0)], ofItemAtPath: dir + "/statements/orphan.pdf")
        try store.write { db in
            try db.execute(
                sql: """
                    INSERT INTO evidence (case_id, number, file, content_type) VALUES (?, 1, 'p1.jpg', 'image/jpeg');
                    UPDATE cases SET photos = 1 WHERE id = ?;
                    INSERT INTO statements (case_id, ground, text, attachments, created_at) VALUES (?, 'other', 'Max Muster fuhr', 's1.pdf', 1);
                    """,
                arguments: [cases[0].id, cases[0].id, cases[0].id]
            )
        }

        // 179 days after the payment nothing is due yet
        let early = try Retention.run(
            store: store,
            dataDir: dir,
            retentionDays: 180,
            asOf: CivilDate(year: 2026, month: 9, day: 13),
            now: 1,
            dryRun: false
        )
        #expect(early.cases == 0)
        // the orphan went with the first run; the fresh file stays
        #expect(early.rejectsFiles == 2 && !FileManager.default.fileExists(atPath: dir + "/evidence/orphan.jpg"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/statements/orphan.pdf"))
        #expect(
            FileManager.default.fileExists(atPath: dir + "/statements/s1.pdf") && FileManager.default.fileExists(atPath: dir + "/evidence/fresh.jpg")
        )
        // a dry run names the two closed cases (paid, cancelled) and changes nothing
        let asOf = CivilDate(year: 2026, month: 9, day: 20)
        let dry = try Retention.run(store: store, dataDir: dir, retentionDays: 180, asOf: asOf, now: 2, dryRun: true)
        #expect(dry.cases == 2 && dry.payments == 1 && dry.rejectsFiles == 3 && dry.dryRun)
        #expect(FileManager.default.fileExists(atPath: dir + "/evidence/p1.jpg"))
        #expect(try record(store, cases[0]).plate == cases[0].plate)
        #expect(FileManager.default.fileExists(atPath: dir + "/rejects/old.csv.20260314T200000Z.rejects.csv"))

        let run = try Retention.run(store: store, dataDir: dir, retentionDays: 180, asOf: asOf, now: 3, dryRun: false)
        #expect(run.cases == 2 && run.payments == 1 && run.rejectsFiles == 3)
        #expect(FileManager.default.fileExists(atPath: dir + "/evidence/fresh.jpg"))
        // the photo and the statement's words and attachment are gone
        #expect(
            !FileManager.default.fileExists(atPath: dir + "/evidence/p1.jpg") && !FileManager.default.fileExists(atPath: dir + "/statements/s1.pdf")
        )
        #expect(try record(store, cases[0]).photos == 0)
        #expect(try store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM evidence") } == 0)
        #expect(try store.read { try String.fetchAll($0, sql: "SELECT text || attachments FROM statements") } == [""])
        #expect(run.line.contains("erased the personal data of 2 cases closed before 2026-03-24"))
        for c in [cases[0], cases[1]] {
            let erased = try record(store, c)
            #expect(erased.erasedAt == 3 && erased.plate.isEmpty && erased.street.isEmpty && erased.city.isEmpty)
            #expect(erased.houseNo == nil && erased.zip == nil && erased.officerID == nil)
            // what the books and the statistics need
            #expect(erased.caseNumber == c.caseNumber && erased.tbnr == c.tbnr && erased.amountCents == c.amountCents)
            #expect(erased.issuedAt == c.issuedAt && erased.deadline == c.deadline)
        }
        #expect(try record(store, cases[0]).status == .paid && (try record(store, cases[0])).paidChannel == .bankTransfer)
        let payment = try #require(try store.read { try Ledger.payments($0, caseID: cases[0].id) }.first)
        #expect(payment.payer == nil && payment.reference == nil && payment.amountCents == cases[0].amountCents)
        // nothing of the payer's account in the dedup key, nothing of the cancel reason in the history
        let leftovers = try store.read { db in
            try String.fetchAll(db, sql: "SELECT dedup_key FROM payments") + String.fetchAll(db, sql: "SELECT coalesce(detail, '') FROM events")
        }
        #expect(!leftovers.contains { $0.contains("DE02120300000000202051") || $0.contains("Max Muster") })
        // open and reminded cases keep theirs
        #expect(try record(store, cases[2]).plate == cases[2].plate)
        // the statistics are the same
        #expect(try store.statisticsSnapshot().differences(from: before) == 0)
        #expect(!FileManager.default.fileExists(atPath: dir + "/rejects/old.csv.20260314T200000Z.rejects.csv"))
        #expect(FileManager.default.fileExists(atPath: dir + "/rejects/new.csv.20261201T200000Z.rejects.csv"))
        // once only
        #expect(try Retention.run(store: store, dataDir: dir, retentionDays: 180, asOf: asOf, now: 4, dryRun: false).cases == 0)
        #expect(try await store.operationsFigures().lastRuns[.retention] == 4)
    }

    @Test func unpaidRemindedCasesAreHandedOverOnceAndThenFollowTheRetention() throws {
        let (dir, store, cases) = try fixture()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let before = try store.statisticsSnapshot()
        // reminded on 2026-03-27: the reminder's time (7 payment days and 5 grace days) ends on 2026-04-08
        let out = dir + "/handover/handover-2026-04-08.csv"
        let none = try Handover.run(store: store, asOf: CivilDate(year: 2026, month: 4, day: 8), paymentDays: 7, graceDays: 5, at: 10, out: out)
        #expect(none == 0)
        let handed = try Handover.run(store: store, asOf: CivilDate(year: 2026, month: 4, day: 9), paymentDays: 7, graceDays: 5, at: 11, out: out)
        #expect(handed == 22)
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.first == Handover.header && lines.count == 23)
        let third = try #require(lines.first { $0.hasPrefix(cases[2].caseNumber + ";") })
        #expect(
            third.contains(";" + cases[2].plate + ";")
                && third.contains(";" + String(format: "%d,%02d", cases[2].amountCents / 100, cases[2].amountCents % 100) + ";0,00;")
                && third.contains(";2026-03-27")
        )
        #expect(try record(store, cases[2]).status == .handedOver)
        #expect(try record(store, cases[0]).status == .paid)
        #expect(
            try store.caseHistory(number: cases[2].caseNumber)?.events.contains { $0.kind == .handedOver && $0.detail == "handover-2026-04-08.csv" }
                == true
        )
        #expect(try Handover.run(store: store, asOf: CivilDate(year: 2026, month: 4, day: 10), paymentDays: 7, graceDays: 5, at: 12, out: out) == 0)
        // a transfer arriving afterwards goes on the refund list (the Bußgeld procedure decides)
        let late = try store.write { db in
            try Ledger.record(
                db,
                IncomingPayment(channel: .bankTransfer, amountCents: 2500, paidAt: 13, source: "camt.xml", dedupKey: "late"),
                caseID: cases[2].id
            )
        }
        #expect(late.disposition == .refund)
        // handed over counts as unpaid and reminded in the statistics, as before (only the count by status moves)
        let after = try store.statisticsSnapshot()
        #expect(after.cells == before.cells && after.payTimes == before.payTimes && after.languages == before.languages)
        #expect(after.statuses["handed_over"] == 22)
        // and is closed: after the retention period its data goes
        let report = try Retention.run(
            store: store,
            dataDir: dir,
            retentionDays: 180,
            asOf: CivilDate(year: 2026, month: 10, day: 7),
            now: 20,
            dryRun: false
        )
        #expect(report.cases == 2 + 22)
        #expect(try record(store, cases[2]).plate.isEmpty)
    }
}
