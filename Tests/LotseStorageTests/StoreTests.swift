import Foundation
import GRDB
import Testing
import LotseStorage
import LotseTestSupport

@Suite struct StoreTests {
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
                try db.execute(sql: """
                    INSERT INTO cases (case_number, source_id, issued_at, plate, plate_country, tbnr, amount_cents,
                        street, city, deadline, created_at) VALUES ('X-1', 's', 0, 'P', 'D', '000000', 100, 'S', 'C', '2026-01-01', 0)
                    """)
            }
        }
        // reopening migrates nothing twice
        _ = try Store(path: dir + "/db/lotse.sqlite")
    }
}
