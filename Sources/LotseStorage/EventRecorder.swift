import Foundation
import GRDB
import LotseCore
import Synchronization

/// Records page-view events in batches: views are appended in memory and written in one
/// transaction every `interval` (never one fsync per view). `flush()` writes what is pending.
/// Used by the web (one per server) and by the demo pilot.
public final class EventRecorder: Sendable {

    let store: Store
    public let interval: Duration
    /// Told when a batch could not be written (the events stay pending and go with the next flush).
    let onFailure: @Sendable (String) -> Void
    private let pending = Mutex([NewEvent]())

    /// `onFailure` hears, on one line, about a batch that could not be written (e.g. the server's logger).
    public init(store: Store, interval: Duration = .seconds(1), onFailure: @escaping @Sendable (String) -> Void) {
        self.store = store
        self.interval = interval
        self.onFailure = onFailure
    }

    public func record(caseID: Int64, kind: EventKind, detail: String?, at: Int64 = Int64(Date().timeIntervalSince1970)) {
        pending.withLock { $0.append(NewEvent(caseID: caseID, kind: kind, at: at, detail: detail)) }
    }

    /// Writes all pending events; returns how many (synchronously, for tests and the CLI).
    @discardableResult
    public func flush() -> Int {
        guard let (batch, sorted) = takeBatch() else { return 0 }
        do {
            try store.write { db in try CaseQueries.addEvents(db, sorted) }
        } catch {
            putBack(batch, error)
            return 0
        }
        return batch.count
    }

    /// Writes what is pending through GRDB's async write (on its writer queue, never on an event loop, where a
    /// checkpoint's fsync or another process's write lock would stall requests). The web's `EventRecorderService`
    /// calls it every `interval`.
    @discardableResult
    public func flushOffLoop() async -> Int {
        guard let (batch, sorted) = takeBatch() else { return 0 }
        do {
            try await store.writeAsync { db in try CaseQueries.addEvents(db, sorted) }
        } catch {
            putBack(batch, error)
            return 0
        }
        return batch.count
    }

    /// The pending events, and the same in case order (consecutive rows go to the same pages of the case index).
    private func takeBatch() -> (batch: [NewEvent], sorted: [NewEvent])? {
        let batch = pending.withLock { events -> [NewEvent] in
            let taken = events
            events.removeAll(keepingCapacity: true)
            return taken
        }
        guard !batch.isEmpty else { return nil }
        return (batch, batch.sorted { ($0.caseID, $0.at) < ($1.caseID, $1.at) })
    }

    private func putBack(_ batch: [NewEvent], _ error: any Error) {
        onFailure("could not record \(batch.count) events: \(error)")
        pending.withLock { $0.insert(contentsOf: batch, at: 0) }
    }
}
