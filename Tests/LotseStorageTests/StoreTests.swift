import Foundation
import GRDB
import LotseCore
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

@Suite struct StoreTests {
    @Test func anUpgradeBacksTheDatabaseUpBeforeItsMigrations() throws {
        let dir = TestSupport.tempDir("lotse-store-upgrade")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // a database of the version before v14, with a case in it
        let old = try DatabasePool(path: dir + "/lotse.sqlite")
        try Schema.migrator.migrate(old, upTo: "v13-payments-waiting-for-tickets")
        try old.write { db in
            try db.execute(
                sql: """
                    INSERT INTO offences (tbnr, text_de, amount_cents, points) VALUES ('141312', 'Haltverbot', 2500, 0);
                    INSERT INTO cases (case_number, source_id, issued_at, plate, plate_country, tbnr, amount_cents, street, city,
                        deadline, created_at, issued_day) VALUES ('KL-2026-0000001', 'HH/1', 0, 'KL-A 1', 'D', '141312', 2500, 'Markt',
                        'Kaiserslautern', '2026-03-21', 0, '2026-03-14');
                    """
            )
        }
        try old.close()
        let store = try Store(path: dir + "/lotse.sqlite")
        #expect(try store.read { try Schema.migrator.hasCompletedMigrations($0) })
        let copy = dir + "/lotse.sqlite.before-v14-operations"
        let before = try DatabaseQueue(path: copy)
        #expect(try before.read { try Schema.migrator.appliedIdentifiers($0).contains("v14-operations") } == false)
        #expect(try before.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM cases") } == 1)
        // a database that is up to date is not copied again
        _ = try Store(path: dir + "/lotse.sqlite")
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: dir).filter {
                $0.contains(".before-") && !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm")
            } == ["lotse.sqlite.before-v14-operations"]
        )
    }

    /// Issue 17: v16 widens the payments' channel check for the e-payment platform on a database of v15, keeps what it
    /// held, still refuses a channel Lotse does not know, and the statistics count such a payment as paid online.
    @Test func v16TakesEPaymentsOnAnOldDatabase() throws {
        let dir = TestSupport.tempDir("lotse-store-v16")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let old = try DatabasePool(path: dir + "/lotse.sqlite")
        try Schema.migrator.migrate(old, upTo: "v15-received")
        try old.write { db in
            try db.execute(
                sql: """
                    INSERT INTO offences (tbnr, text_de, amount_cents, points) VALUES ('141312', 'Haltverbot', 2500, 0);
                    INSERT INTO cases (case_number, source_id, issued_at, plate, plate_country, tbnr, amount_cents, street, city,
                        deadline, created_at, issued_day) VALUES ('KL-2026-0000001', 'HH/1', 0, 'KL-A 1', 'D', '141312', 2500, 'Markt',
                        'Kaiserslautern', '2026-03-21', 0, '2026-03-14');
                    INSERT INTO payments (case_id, channel, amount_cents, paid_at, disposition, source, dedup_key, recorded_at)
                        VALUES (NULL, 'bank_transfer', 100, 0, 'unmatched', 'camt', 'old', 0);
                    """
            )
        }
        try old.close()
        let store = try Store(path: dir + "/lotse.sqlite")
        _ = try store.statisticsSnapshot()  // the case is folded before it is paid: the trigger counts the payment
        let payment = IncomingPayment(
            channel: .epayment,
            amountCents: 2500,
            currency: "EUR",
            paidAt: 3600,
            source: "xbd",
            dedupKey: "xbd:transaction:T1",
            externalID: "T1",
            reference: nil,
            note: nil
        )
        let outcome = try store.write { db in try Ledger.record(db, payment, caseID: try CaseQueries.byNumber(db, "KL-2026-0000001")!.id, now: 3600) }
        #expect(outcome.disposition == .paid)
        #expect(try store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM payments") } == 2)
        #expect(throws: (any Error).self) {
            try store.write { try $0.execute(sql: "UPDATE payments SET channel = 'bitcoin' WHERE dedup_key = 'old'") }
        }
        let online = try store.read { try Int.fetchOne($0, sql: "SELECT sum(paid_paypal) FROM stats_cells") }
        #expect(online == 1)
    }

    /// The import's hot loop: writing a case builds no temporary index (SQLite does, per row, for a CHECK of the
    /// form `IN (five or more constants)`), and the check still refuses a status Lotse does not know.
    @Test func writingACaseBuildsNoTemporaryIndexAndTheStatusCheckHolds() throws {
        let dir = TestSupport.tempDir("lotse-store-check")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: dir + "/lotse.sqlite")
        let program = try store.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    EXPLAIN INSERT INTO cases (case_number, source_id, issued_at, plate, plate_country, tbnr, amount_cents, street,
                        city, deadline, created_at, issued_day) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: StatementArguments(Array(repeating: "x", count: 12))
            ).map { $0["opcode"] as String }
        }
        #expect(!program.isEmpty && !program.contains("OpenEphemeral"))
        try store.write { db in
            try db.execute(
                sql: """
                    INSERT INTO offences (tbnr, text_de, amount_cents, points) VALUES ('141312', 'Haltverbot', 2500, 0);
                    INSERT INTO cases (case_number, source_id, issued_at, plate, plate_country, tbnr, amount_cents, street, city,
                        deadline, created_at, issued_day) VALUES ('KL-2026-0000001', 'HH/1', 0, 'KL-A 1', 'D', '141312', 2500,
                        'Markt', 'Kaiserslautern', '2026-03-21', 0, '2026-03-14');
                    UPDATE cases SET status = 'handed_over';
                    """
            )
        }
        #expect(throws: DatabaseError.self) { try store.write { try $0.execute(sql: "UPDATE cases SET status = 'lost'") } }
    }

    @Test func aDatabaseMigratedByANewerLotseIsNotOpened() throws {
        let dir = TestSupport.tempDir("lotse-store-newer")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: dir + "/lotse.sqlite")
        #expect(
            try store.read { try String.fetchOne($0, sql: "SELECT sql FROM sqlite_schema WHERE name = 'cases'") }?.contains("'handed_over'") == true
        )
        try store.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')") }
        #expect(throws: LotseError.self) { try Store(path: dir + "/lotse.sqlite") }
    }

    @Test func walForeignKeysAndMigrations() throws {
        let dir = TestSupport.tempDir("lotse-store")
        let store = try Store(path: dir + "/db/lotse.sqlite")
        let mode = try store.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
        let fk = try store.read { try Int.fetchOne($0, sql: "PRAGMA foreign_keys") }
        #expect(fk == 1)
        let applied = try store.read { try Schema.migrator.appliedMigrations($0) }
        #expect(applied.contains("v1-cases"))
        // a case must reference a known offence
        #expect(throws: DatabaseError.self) {
            try store.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO cases (case_number, source_id, issued_at, plate, plate_country, tbnr, amount_cents,
                            street, city, deadline, created_at) VALUES ('X-1', 's', 0, 'P', 'D', '000000', 100, 'S', 'C', '2026-01-01', 0)
                        """
                )
            }
        }
        // reopening migrates nothing twice
        _ = try Store(path: dir + "/db/lotse.sqlite")
    }

    /// `readStatement` (the case page's read-only connections) sees every committed write at once, from
    /// this process or another, and many threads reading while one writes get no errors.
    @Test func statementReadsSeeCommittedWritesUnderConcurrency() throws {
        let dir = TestSupport.tempDir("lotse-store")
        let path = dir + "/lotse.sqlite"
        let store = try Store(path: path)
        try store.write { try $0.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)") }
        #expect(try store.readStatement { try Int.fetchOne($0, sql: "SELECT count(*) FROM t") } == 0)
        try store.write { try $0.execute(sql: "INSERT INTO t (v) VALUES (1)") }
        #expect(try store.readStatement { try Int.fetchOne(try $0.cachedStatement(sql: "SELECT count(*) FROM t")) } == 1)
        // another process's write (a second Store is another set of connections)
        let other = try Store(path: path)
        try other.write { try $0.execute(sql: "INSERT INTO t (v) VALUES (2)") }
        #expect(try store.readStatement { try Int.fetchOne(try $0.cachedStatement(sql: "SELECT count(*) FROM t")) } == 2)

        let failures = Counter(0)
        DispatchQueue.concurrentPerform(iterations: 9) { worker in
            if worker == 0 {
                for i in 0..<200 { _ = try? store.write { try $0.execute(sql: "INSERT INTO t (v) VALUES (?)", arguments: [i]) } }
                return
            }
            var last = 0
            for _ in 0..<2_000 {
                do {
                    let n = try store.readStatement { try Int.fetchOne(try $0.cachedStatement(sql: "SELECT count(*) FROM t"))! }
                    if n < last { failures.add(1) }  // never an older snapshot than one already seen
                    last = n
                } catch {
                    failures.add(1)
                }
            }
        }
        #expect(failures.value == 0)
        #expect(try store.readStatement { try Int.fetchOne($0, sql: "SELECT count(*) FROM t") } == 202)
    }
}

/// A counter for the concurrent test.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count: Int
    init(_ value: Int) { count = value }
    func add(_ n: Int) {
        lock.lock()
        count += n
        lock.unlock()
    }
    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }
}
