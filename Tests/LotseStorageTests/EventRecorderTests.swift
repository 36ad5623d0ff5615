import Foundation
import GRDB
import LotseCore
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Synchronization
import Testing

/// Page views are written in case order, in transactions of at most `chunk` events; a transaction that fails leaves
/// its events and those after it pending, and nothing is written twice.
@Suite struct EventRecorderTests {
    /// The case cache's fixture: one offence and three open cases.
    func store() throws -> (Store, [Int64]) {
        let (store, _, ids) = try CaseCacheTests().fixture()
        return (store, ids)
    }

    func views(_ store: Store) throws -> [Int64] {
        try store.read { try Int64.fetchAll($0, sql: "SELECT case_id FROM events WHERE kind = 'page_viewed' ORDER BY id") }
    }

    @Test func aBatchIsWrittenInChunksInCaseOrder() throws {
        let (store, ids) = try store()
        let failures = Mutex([String]())
        let recorder = EventRecorder(store: store, chunk: 10, onFailure: { message in failures.withLock { $0.append(message) } })
        for i in 0..<25 { recorder.record(caseID: ids[(i * 7) % 3], kind: .pageViewed, detail: "lang=de", at: Int64(i)) }
        #expect(recorder.flush() == 25)
        let written = try views(store)
        #expect(written.count == 25)
        #expect(written == written.sorted())
        #expect(recorder.flush() == 0)
        #expect(failures.withLock { $0 }.isEmpty)
    }

    @Test func aFailedChunkKeepsItsViewsAndThoseAfterIt() throws {
        let (store, ids) = try store()
        let failures = Mutex([String]())
        let recorder = EventRecorder(store: store, chunk: 10, onFailure: { message in failures.withLock { $0.append(message) } })
        // 20 views of real cases, then 5 of a case that does not exist (last in case order): the third chunk breaks the
        // foreign key
        for i in 0..<20 { recorder.record(caseID: ids[i % 3], kind: .pageViewed, detail: "lang=de", at: Int64(i)) }
        for i in 0..<5 { recorder.record(caseID: 999_999, kind: .pageViewed, detail: "lang=de", at: Int64(i)) }
        #expect(recorder.flush() == 20)
        #expect(try views(store).count == 20)
        #expect(failures.withLock { $0 }.count == 1)
        #expect(failures.withLock { $0 }.first?.hasPrefix("could not record 5 events") == true)
        // the five are still pending, and the twenty are not written again
        #expect(recorder.flush() == 0)
        #expect(try views(store).count == 20)
        #expect(failures.withLock { $0 }.count == 2)
    }
}
