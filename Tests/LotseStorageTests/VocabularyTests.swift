import Foundation
import GRDB
import LotseCore
import LotseTestSupport
import Testing

@_spi(Testing) @testable import LotseStorage

/// Issue 13: stored vocabularies decode strictly, and migrations are frozen SQL.
@Suite struct VocabularyTests {
    static func storeWithOneCase() throws -> (Store, Int64) {
        let store = try Store(path: TestSupport.tempDir("lotse-vocabulary") + "/lotse.sqlite")
        let id = try store.write { db -> Int64 in
            try db.execute(sql: "INSERT INTO offences (tbnr, text_de, amount_cents) VALUES ('141312', 'Parken', 2500)")
            try db.execute(
                sql: """
                    INSERT INTO cases (case_number, source_id, issued_at, plate, plate_country, tbnr, amount_cents,
                        street, city, deadline, created_at) VALUES ('KL-2026-0000001', 's1', 0, 'KL-AB 1', 'D', '141312', 2500,
                        'Markt', 'Kaiserslautern', '2026-01-08', 0)
                    """
            )
            return db.lastInsertedRowID
        }
        return (store, id)
    }

    /// An unknown status (a newer Lotse, or a hand edit) was read as `open`: the page offered to pay a case in a
    /// state this version does not understand. Now reading it is an error naming the column.
    @Test func anUnknownCaseStatusIsAnErrorNotOpen() async throws {
        let (store, id) = try Self.storeWithOneCase()
        #expect(try await store.caseRecord(id: id)?.status == .open)
        try store.write { db in
            try db.execute(sql: "PRAGMA ignore_check_constraints = ON")
            try db.execute(sql: "UPDATE cases SET status = 'archived' WHERE id = ?", arguments: [id])
            try db.execute(sql: "PRAGMA ignore_check_constraints = OFF")
        }
        await #expect {
            _ = try await store.caseRecord(id: id)
        } throws: { error in
            "\(error)".contains("cases.status") && "\(error)".contains("archived")
        }
    }

    @Test func anUnknownChannelOrDispositionIsAnError() async throws {
        let (store, id) = try Self.storeWithOneCase()
        try store.write { db in
            try db.execute(sql: "PRAGMA ignore_check_constraints = ON")
            try db.execute(
                sql: """
                    INSERT INTO payments (case_id, channel, amount_cents, paid_at, disposition, source, dedup_key, recorded_at)
                    VALUES (?, 'giropay', 2500, 0, 'unmatched', 'x', 'k1', 0)
                    """,
                arguments: [id]
            )
            try db.execute(sql: "UPDATE cases SET paid_channel = 'giropay' WHERE id = ?", arguments: [id])
            try db.execute(sql: "PRAGMA ignore_check_constraints = OFF")
        }
        #expect { _ = try store.payments(.unmatched) } throws: { "\(String(describing: $0))".contains("payments.channel") }
        await #expect { _ = try await store.caseRecord(id: id) } throws: { "\(String(describing: $0))".contains("cases.paid_channel") }
    }

    @Test func anUnknownEventKindIsAnError() throws {
        let (store, id) = try Self.storeWithOneCase()
        try store.addEvent(caseID: id, kind: .pageViewed, at: 10, detail: "lang=de")
        #expect(try store.caseHistory(number: "KL-2026-0000001")?.events.map(\.kind) == [.imported, .pageViewed])
        try store.write { try $0.execute(sql: "INSERT INTO events (case_id, kind, at) VALUES (?, 'teleported', 20)", arguments: [id]) }
        #expect { _ = try store.caseHistory(number: "KL-2026-0000001") } throws: { "\(String(describing: $0))".contains("events.kind") }
    }

    /// The v7 trigger is frozen SQL (no Swift constant interpolated), and lists exactly the columns the case
    /// cache's observer of this process watches.
    @Test func theChangeTriggerWatchesTheCacheColumns() throws {
        let (store, _) = try Self.storeWithOneCase()
        let sql = try #require(
            try store.read {
                try String.fetchOne($0, sql: "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'cases_changed'")
            }
        )
        let list = try #require(sql.range(of: "AFTER UPDATE OF ")).upperBound
        let end = try #require(sql.range(of: " ON cases")).lowerBound
        let columns = sql[list..<end].split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(Set(columns) == CaseChangeColumns.names)
        #expect(columns.count == CaseChangeColumns.names.count)
    }
}
