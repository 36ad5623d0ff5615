import Foundation
import GRDB
import Logging
import LotseStorage
import NIOConcurrencyHelpers
import NIOPosix

/// Records page-view events in batches: views are appended in memory and written in one
/// transaction every `interval` (never one fsync per view). `flush()` writes what is pending.
public final class EventRecorder: Sendable {

    let store: Store
    let interval: Duration
    let logger = Logger(label: "lotse.events")
    private let pending = NIOLockedValueBox([NewEvent]())

    public init(store: Store, interval: Duration = .seconds(1)) {
        self.store = store
        self.interval = interval
    }

    public func record(caseID: Int64, kind: String, detail: String?, at: Int64 = Int64(Date().timeIntervalSince1970)) {
        pending.withLockedValue { $0.append(NewEvent(caseID: caseID, kind: kind, at: at, detail: detail)) }
    }

    /// Writes all pending events; returns how many.
    @discardableResult
    public func flush() -> Int {
        let batch = pending.withLockedValue { p -> [NewEvent] in
            let b = p
            p.removeAll(keepingCapacity: true)
            return b
        }
        guard !batch.isEmpty else { return 0 }
        do {
            // in case order: consecutive rows go to the same pages of the case index
            let sorted = batch.sorted { ($0.caseID, $0.at) < ($1.caseID, $1.at) }
            try store.write { db in try CaseQueries.addEvents(db, sorted) }
        } catch {
            logger.error("could not record \(batch.count) events: \(error)")
            pending.withLockedValue { $0.insert(contentsOf: batch, at: 0) }
            return 0
        }
        return batch.count
    }

    /// Writes what is pending on NIO's blocking thread pool, never on an event loop (where a
    /// checkpoint's fsync would stall requests). `EventRecorderService` calls it every `interval`.
    func flushOffLoop() async {
        _ = try? await NIOThreadPool.singleton.runIfActive { self.flush() }
    }
}
