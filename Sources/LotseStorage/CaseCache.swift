import Foundation
import GRDB
import LotseCore
import Synchronization

/// The cases the case page has shown, kept in memory so a repeated scan does not read SQLite again.
/// Under load the indexed read, not the page, was the cost of a case page: on two cores it took about
/// half of each request, mostly in SQLite's per-transaction file locks (see README).
///
/// A record leaves the cache when its case changes:
/// - changes made through this process's `Store` (payments, webhooks, office actions, page-view
///   triggers do not count: they change no column the page shows) are seen by a transaction observer
///   on the writer and evicted when they commit, before the writer returns;
/// - changes made by another process (`lotse reconcile`, `lotse dunning`, a second server) reach the
///   `case_changes` log through a trigger, which `pollChanges()` reads (the server every 250 ms).
/// A read that raced with an eviction is not cached (a generation counter). Misses (unknown cases)
/// are not cached. When `capacity` records are held, each new one takes the place of the oldest (`FIFOMap`).
public final class CaseCache: Sendable {
    let store: Store
    private let state: Mutex<State>
    private let loader = MissLoader()

    struct State {
        var records: FIFOMap<Int64, CaseRecord>
        /// Bumped by every eviction; a read that started before one does not fill the cache.
        var generation: UInt64 = 0
        /// The last `case_changes` row seen.
        var lastSeq: Int64
    }

    /// Starts empty; changes already in the log before now do not matter.
    public init(store: Store, capacity: Int = 50_000) throws {
        self.store = store
        let last = try store.read { try Int64.fetchOne($0, sql: "SELECT max(seq) FROM case_changes") } ?? 0
        state = Mutex(State(records: FIFOMap(capacity: capacity), lastSeq: last))
        store.observeCaseChanges { [weak self] ids in self?.evict(ids) }
    }

    /// The case with this id, from memory or read (one indexed statement); nil if there is none.
    public func record(id: Int64) throws -> CaseRecord? {
        let (hit, generation) = state.withLock { ($0.records[id], $0.generation) }
        if let hit { return hit }
        guard let c = try store.readStatement({ try CaseQueries.byID($0, id) }) else { return nil }
        keep([id: c], readAt: generation)
        return c
    }

    /// The case with this id if it is in memory; nil on a miss. Never touches SQLite: the case page's pipeline
    /// answer uses it on the event loop and passes a miss on to the router, which reads with `recordAsync`.
    public func cached(id: Int64) -> CaseRecord? {
        state.withLock { $0.records[id] }
    }

    /// `record(id:)` for the server: a miss is read on GRDB's reader threads, the caller suspended meanwhile.
    public func recordAsync(id: Int64) async throws -> CaseRecord? {
        let (hit, generation) = state.withLock { ($0.records[id], $0.generation) }
        if let hit { return hit }
        guard let c = try await store.readAsync({ try CaseQueries.byID($0, id) }) else { return nil }
        keep([id: c], readAt: generation)
        return c
    }

    /// Reads a case the cache misses for the case page's pipeline answer (`CasePageChannelHandler`) on a thread of the
    /// cache's own, never the caller's, then calls `done` there (the caller hops back to its event loop). The misses
    /// asked for meanwhile are read together, one statement each on one read-only connection: under load a thread
    /// wake-up serves many pages, where a read through the router cost each page a task, GRDB's queue and a
    /// continuation (issue 13's benchmark of a million cold cases). `done` gets nil for an unknown case or an error
    /// (the caller then lets the router answer).
    public func load(id: Int64, then done: @escaping @Sendable (CaseRecord?) -> Void) {
        loader.enqueue(id, done) { [weak self] ids in self?.readMissing(ids) ?? [:] }
    }

    /// The cases of `ids` read and kept (unless an eviction raced with the read).
    func readMissing(_ ids: [Int64]) -> [Int64: CaseRecord] {
        let generation = state.withLock { $0.generation }
        // one read transaction for the batch: one snapshot (one set of file locks) for every case in it
        let found: [Int64: CaseRecord] =
            (try? store.readStatement { db -> [Int64: CaseRecord] in
                var found: [Int64: CaseRecord] = [:]
                try db.inTransaction(.deferred) {
                    for id in ids where found[id] == nil {
                        if let c = try CaseQueries.byID(db, id) { found[id] = c }
                    }
                    return .commit
                }
                return found
            }) ?? [:]
        keep(found, readAt: generation)
        return found
    }

    /// Keeps records read when the cache had `generation` (not if an eviction came since).
    private func keep(_ found: [Int64: CaseRecord], readAt generation: UInt64) {
        state.withLock { s in
            guard s.generation == generation else { return }
            for (id, c) in found { s.records.insert(c, for: id) }
        }
    }

    /// Forgets these cases; an id of 0 (a changed offence text) forgets all.
    public func evict(_ ids: [Int64]) {
        guard !ids.isEmpty else { return }
        state.withLock { s in
            s.generation &+= 1
            if ids.contains(0) {
                s.records.removeAll()
            } else {
                for id in ids { s.records.removeValue(for: id) }
            }
        }
    }

    public var count: Int { state.withLock { $0.records.count } }

    /// Reads the change log since the last poll and evicts what it names; returns how many changes.
    @discardableResult
    public func pollChanges() throws -> Int {
        let last = state.withLock { $0.lastSeq }
        let rows = try store.read { db in
            try Row.fetchAll(db, sql: "SELECT seq, case_id FROM case_changes WHERE seq > ? ORDER BY seq", arguments: [last])
                .map { (seq: $0[0] as Int64, caseID: $0[1] as Int64) }
        }
        guard let newest = rows.last?.seq else { return 0 }
        evict(rows.map(\.caseID))
        state.withLock { $0.lastSeq = max($0.lastSeq, newest) }
        return rows.count
    }
}

/// The columns of `cases` the motorist's pages use; `case_changes` logs updates of these (the
/// migration's trigger lists the same names). `qr_written_at` is left out: a QR batch sets it for
/// every case, and no page shows it. A database keeps the trigger it was migrated with: a column added
/// here later needs a new migration that recreates `cases_changed`.
enum CaseChangeColumns {
    static let names: Set<String> = [
        "case_number", "source_id", "ticket_no", "device_id", "officer_id", "issued_at", "plate", "plate_country",
        "tbnr", "amount_cents", "street", "house_no", "place_note", "zip", "city", "qr_printed", "deadline",
        "status", "paid_at", "paid_channel",
    ]
    /// What this process's observer watches: v7's columns and those later migrations log with triggers of their own
    /// (so a change made here reaches the cache at once, not with the next poll).
    static let observed = names.union(["received_cents", "reminded_at", "photos"])
}

/// Sees, on the writer connection, which cases a transaction changed, and reports them on commit.
final class CaseChangeObserver: TransactionObserver {
    let onCommit: @Sendable ([Int64]) -> Void
    private var changed: [Int64] = []

    init(onCommit: @escaping @Sendable ([Int64]) -> Void) {
        self.onCommit = onCommit
    }

    func observes(eventsOfKind kind: DatabaseEventKind) -> Bool {
        switch kind {
        case .insert: return false
        case .delete(let table): return table == "cases" || table == "offences"
        case .update(let table, let columns):
            return table == "offences" ? columns.contains("text_de") : table == "cases" && !columns.isDisjoint(with: CaseChangeColumns.observed)
        }
    }

    func databaseDidChange(with event: DatabaseEvent) {
        changed.append(event.tableName == "cases" ? event.rowID : 0)
    }

    func databaseDidCommit(_ db: Database) {
        let ids = changed
        changed = []
        onCommit(ids)
    }

    func databaseDidRollback(_ db: Database) {
        changed = []
    }
}

/// The thread behind `CaseCache.load`: waits for misses, reads every one queued meanwhile, answers each. It ends after
/// a few idle seconds and starts again with the next miss (a server with a warm cache holds no thread for it).
final class MissLoader: Sendable {
    typealias Done = @Sendable (CaseRecord?) -> Void
    private struct Queue {
        var waiting: [(id: Int64, done: Done)] = []
        var running = false
    }
    private let queue = Mutex(Queue())
    private let wake = DispatchSemaphore(value: 0)
    static let idleSeconds = 5.0

    func enqueue(_ id: Int64, _ done: @escaping Done, read: @escaping @Sendable ([Int64]) -> [Int64: CaseRecord]) {
        let start = queue.withLock { q -> Bool in
            q.waiting.append((id, done))
            if q.running { return false }
            q.running = true
            return true
        }
        if start {
            let thread = Thread { [self] in run(read) }
            thread.name = "lotse-case-misses"
            thread.start()
        } else {
            wake.signal()
        }
    }

    private func run(_ read: @Sendable ([Int64]) -> [Int64: CaseRecord]) {
        while true {
            let batch = queue.withLock { q -> [(id: Int64, done: Done)]? in
                if q.waiting.isEmpty { return nil }
                defer { q.waiting.removeAll(keepingCapacity: true) }
                return q.waiting
            }
            if let batch {
                let found = read(batch.map(\.id))
                for (id, done) in batch { done(found[id]) }
                continue
            }
            if wake.wait(timeout: .now() + Self.idleSeconds) == .timedOut {
                // idle: end, unless a miss came in just now (then its signal is still counted and the loop goes on)
                let stop = queue.withLock { q -> Bool in
                    if q.waiting.isEmpty { q.running = false }
                    return !q.running
                }
                if stop { return }
            }
        }
    }
}
