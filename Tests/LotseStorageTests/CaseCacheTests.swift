import Foundation
import GRDB
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

/// The case page's cache of case rows: served from memory, dropped when the case changes, at once for
/// this process's writes and through the `case_changes` log for another process's.
@Suite struct CaseCacheTests {
    /// A database with one offence and three open cases; returns the store, its path and the case ids.
    func fixture() throws -> (Store, String, [Int64]) {
        let path = TestSupport.tempDir("lotse-cache") + "/lotse.sqlite"
        let store = try Store(path: path)
        let ids = try store.write { db -> [Int64] in
            try db.execute(sql: "INSERT INTO offences (tbnr, text_de, amount_cents) VALUES ('112402', 'Parken im Halteverbot', 2500)")
            return try (1...3).map { i -> Int64 in
                try db.execute(
                    sql: """
                        INSERT INTO cases (case_number, source_id, issued_at, plate, plate_country, tbnr, amount_cents,
                            street, city, deadline, created_at) VALUES (?, ?, 0, 'KL-AB 12', 'D', '112402', 2500, 'Markt', 'KL', '2026-04-01', 0)
                        """,
                    arguments: ["KL-2026-000000\(i)", "s\(i)"]
                )
                return db.lastInsertedRowID
            }
        }
        return (store, path, ids)
    }

    @Test func thisProcessesChangesAreSeenAtOnce() throws {
        let (store, _, ids) = try fixture()
        let cache = try CaseCache(store: store)
        #expect(try cache.record(id: ids[0])?.status == .open)
        #expect(cache.count == 1)
        try store.write { try $0.execute(sql: "UPDATE cases SET status = 'paid', paid_at = 5 WHERE id = ?", arguments: [ids[0]]) }
        #expect(cache.count == 0)
        #expect(try cache.record(id: ids[0])?.status == .paid)
        // a rolled-back change drops nothing
        _ = try? store.write { db in
            try db.execute(sql: "UPDATE cases SET status = 'cancelled' WHERE id = ?", arguments: [ids[0]])
            throw DatabaseError(message: "rollback")
        }
        #expect(cache.count == 1)
        #expect(try cache.record(id: ids[0])?.status == .paid)
        // unknown cases are not kept
        #expect(try cache.record(id: 999) == nil)
        #expect(cache.count == 1)
    }

    @Test func anotherProcessesChangesArriveThroughTheLog() throws {
        let (store, path, ids) = try fixture()
        let cache = try CaseCache(store: store)
        for id in ids { _ = try cache.record(id: id) }
        // another process (a second Store: its own connections, without the cache's observer)
        let other = try Store(path: path)
        try other.write { try $0.execute(sql: "UPDATE cases SET status = 'reminded' WHERE id = ?", arguments: [ids[1]]) }
        // until the log is read the page would show the remembered row: this is what the cache saves
        #expect(try cache.record(id: ids[1])?.status == .open)
        #expect(try cache.pollChanges() == 1)
        #expect(cache.count == 2)
        #expect(try cache.record(id: ids[1])?.status == .reminded)
        #expect(try cache.record(id: ids[0])?.status == .open)
        // the first view (statistics columns) is no change of what a page shows: nothing logged
        try other.write { try $0.execute(sql: "UPDATE cases SET first_viewed_at = 7, view_lang = 'de' WHERE id = ?", arguments: [ids[2]]) }
        #expect(try cache.pollChanges() == 0)
        // a new offence text forgets every case
        try other.write { try $0.execute(sql: "UPDATE offences SET text_de = 'Parken im absoluten Halteverbot'") }
        #expect(try cache.pollChanges() == 1)
        #expect(cache.count == 0)
        #expect(try cache.record(id: ids[2])?.offenceText == "Parken im absoluten Halteverbot")
        // the same text again is no change
        try other.write { try $0.execute(sql: "UPDATE offences SET text_de = 'Parken im absoluten Halteverbot'") }
        #expect(try cache.pollChanges() == 0)
    }

    /// A full cache lets go of the case read longest ago for each new one, and keeps the rest (issue 13: it used to
    /// start over, freeing 50,000 records at once).
    @Test func aFullCacheDropsItsOldestCaseForEachNewOne() throws {
        let (store, _, ids) = try fixture()
        let cache = try CaseCache(store: store, capacity: 2)
        _ = try cache.record(id: ids[0])
        _ = try cache.record(id: ids[1])
        #expect(cache.cached(id: ids[0]) != nil && cache.count == 2)
        _ = try cache.record(id: ids[2])
        #expect(cache.count == 2)
        #expect(cache.cached(id: ids[0]) == nil)
        #expect(cache.cached(id: ids[1]) != nil && cache.cached(id: ids[2]) != nil)
    }
}
