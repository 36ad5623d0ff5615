import Foundation
import GRDB
import LotseCore
import Synchronization

/// Records page-view events in batches: views are appended in memory and written every `interval` (never one
/// transaction per view), in case order, in transactions of at most `chunk` events. `flush()` writes what is pending.
/// Used by the web (one per server, every `LOTSE_VIEW_FLUSH_SECONDS`) and by the demo pilot.
///
/// Why batches of seconds: each view adds an entry to the events' case index at its case's place, so a batch dirties
/// about one index page per view when views are spread over many cases, and every dirty page is written to the WAL
/// and again by the checkpoint. A batch of five seconds touches a page once where five batches of one second touched
/// it five times (issue 13's benchmark of a million cases: the writer's CPU from 1.6 s to 0.55 s in ten seconds, the
/// case page's p99 from about 10 ms to about 8 ms). Chunks keep each transaction short, so a payment's write waits
/// for one chunk at most, not for the whole batch.
public final class EventRecorder: Sendable {

    let store: Store
    public let interval: Duration
    /// Events per transaction.
    let chunk: Int
    /// Told when a batch could not be written (the events stay pending and go with the next flush).
    let onFailure: @Sendable (String) -> Void
    private let pending = Mutex([NewEvent]())

    /// `onFailure` hears, on one line, about a batch that could not be written (e.g. the server's logger).
    public init(store: Store, interval: Duration = .seconds(1), chunk: Int = 10_000, onFailure: @escaping @Sendable (String) -> Void) {
        self.store = store
        self.interval = interval
        self.chunk = chunk
        self.onFailure = onFailure
    }

    public func record(caseID: Int64, kind: EventKind, detail: String?, at: Int64 = Int64(Date().timeIntervalSince1970)) {
        pending.withLock { $0.append(NewEvent(caseID: caseID, kind: kind, at: at, detail: detail)) }
    }

    /// Writes all pending events; returns how many (synchronously, for tests and the CLI).
    @discardableResult
    public func flush() -> Int {
        guard let sorted = takeBatch() else { return 0 }
        var written = 0
        for part in chunks(of: sorted) {
            do {
                try store.write { db in try CaseQueries.addEvents(db, Array(part)) }
            } catch {
                putBack(sorted[part.startIndex...], error)
                break
            }
            written += part.count
        }
        return written
    }

    /// Writes what is pending through GRDB's async write (on its writer queue, never on an event loop, where a
    /// checkpoint's fsync or another process's write lock would stall requests). The web's `EventRecorderService`
    /// calls it every `interval`.
    @discardableResult
    public func flushOffLoop() async -> Int {
        guard let sorted = takeBatch() else { return 0 }
        var written = 0
        for part in chunks(of: sorted) {
            do {
                let events = Array(part)
                try await store.writeAsync { db in try CaseQueries.addEvents(db, events) }
            } catch {
                putBack(sorted[part.startIndex...], error)
                break
            }
            written += part.count
        }
        return written
    }

    /// The pending events in case order (consecutive rows go to the same pages of the case index).
    private func takeBatch() -> [NewEvent]? {
        let batch = pending.withLock { events -> [NewEvent] in
            let taken = events
            events.removeAll(keepingCapacity: true)
            return taken
        }
        guard !batch.isEmpty else { return nil }
        return batch.sorted { ($0.caseID, $0.at) < ($1.caseID, $1.at) }
    }

    /// The batch in ranges of at most `chunk` events, one transaction each.
    private func chunks(of sorted: [NewEvent]) -> [ArraySlice<NewEvent>] {
        stride(from: 0, to: sorted.count, by: chunk).map { sorted[$0..<min($0 + chunk, sorted.count)] }
    }

    /// Events a failed transaction did not write (and those after it) wait for the next flush.
    private func putBack(_ unwritten: ArraySlice<NewEvent>, _ error: any Error) {
        onFailure("could not record \(unwritten.count) events: \(error)")
        pending.withLock { $0.insert(contentsOf: unwritten, at: 0) }
    }
}
