import CSQLiteShim
import Foundation
import GRDB
import LotseCore
import Synchronization

/// The Lotse database: one SQLite file in the data directory, WAL mode, foreign keys on,
/// versioned migrations. Times are stored as UTC seconds, money as integer cents.
public final class Store: Sendable {
    /// GRDB's pool: private to the storage module (every other target calls methods named for what they do).
    let pool: DatabasePool
    public let path: String
    let quickReaders: QuickReaders

    /// - Parameter busyTimeout: how long to wait for another process's write lock (0: fail at once).
    public init(path: String, busyTimeout: TimeInterval = 10) throws {
        _ = Store.configureSQLite
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = busyTimeout > 0 ? .timeout(busyTimeout) : .immediateError
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // up to 32 MB of pages per connection (allocated as used): the page-view batches touch
            // pages all over the events' case index, which then stay in memory
            try db.execute(sql: "PRAGMA cache_size = \(Store.cacheSize)")
        }
        quickReaders = QuickReaders(path: path, count: 4)
        do {
            pool = try DatabasePool(path: path, configuration: config)
            // a database a newer Lotse has migrated is not opened by an older one (roll back by restoring a backup)
            if try pool.read({ try Schema.migrator.hasBeenSuperseded($0) }) {
                throw LotseError.io("\(path): the database was migrated by a newer version of Lotse; use that version or restore a backup")
            }
            try Store.backUpBeforeUpgrade(pool, path: path)
            try Schema.migrator.migrate(pool)
        } catch let error as DatabaseError {
            throw LotseError.io("\(path): cannot open the database: \(error.message ?? error.description)")
        }
    }

    /// Before an upgrade's migrations change a database that has data, a copy of it as it was goes beside it
    /// (`lotse.sqlite.before-<first new migration>`, through the online backup API), so that the old version can be
    /// restored if the new one has to be rolled back. A new database is not copied.
    static func backUpBeforeUpgrade(_ pool: DatabasePool, path: String) throws {
        let (applied, hasCases) = try pool.read { db in
            (
                try Schema.migrator.appliedIdentifiers(db),
                try db.tableExists("cases") && (try Int.fetchOne(db, sql: "SELECT 1 FROM cases LIMIT 1")) != nil
            )
        }
        guard !applied.isEmpty, hasCases, let next = Schema.migrator.migrations.first(where: { !applied.contains($0) }) else { return }
        let copy = path + ".before-" + next
        guard !FileManager.default.fileExists(atPath: copy) else { return }
        let part = copy + ".\(getpid()).part"
        let target = try DatabaseQueue(path: part)
        try pool.backup(to: target)
        try target.close()
        // another process that raced this one may have put its copy there first: the same database, either will do
        guard rename(part, copy) == 0 else {
            try? FileManager.default.removeItem(atPath: part)
            return
        }
    }

    /// SQLite's page cache per connection (`PRAGMA cache_size`; negative: KiB).
    static let cacheSize = -32768

    /// Process-wide SQLite settings, once, before the first connection (see `lotse_sqlite_configure`).
    static let configureSQLite: Int32 = lotse_sqlite_configure()

    public convenience init(config: LotseConfig) throws {
        try self.init(path: config.databasePath)
    }

    // The raw transactions below take GRDB's `Database`: for the repositories of this module, and for tests that set
    // up or inspect rows (`@_spi(Testing) import LotseStorage`). Every other target calls methods named for their purpose.

    @_spi(Testing)
    public func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) throws -> T {
        try pool.read(body)
    }

    /// One read statement without a transaction around it (a single SELECT sees one snapshot anyway),
    /// on a read-only connection of its own that keeps its prepared statements: the hot path of the case
    /// page. Use `read` for anything that runs more than one statement.
    @_spi(Testing)
    public func readStatement<T: Sendable>(_ body: @Sendable (Database) throws -> T) throws -> T {
        if let value = try quickReaders.read(body) { return value }
        return try pool.unsafeRead(body)
    }

    @_spi(Testing)
    public func write<T: Sendable>(_ body: @Sendable (Database) throws -> T) throws -> T {
        try pool.write(body)
    }

    /// `read` for the server: runs on one of GRDB's reader threads and suspends the caller meanwhile, so an event
    /// loop never waits on SQLite (another process's write lock, a checkpoint's fsync). The sync `read` is for the CLI.
    @_spi(Testing)
    public func readAsync<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await pool.read(body)
    }

    /// `write` for the server: on GRDB's writer queue, the caller suspended meanwhile (it may wait `busyTimeout`
    /// for another process's write lock without blocking a thread of the caller's).
    @_spi(Testing)
    public func writeAsync<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await pool.write(body)
    }

    /// Calls `onCommit` with the ids of the cases each committed write of this process changed
    /// (columns in `CaseChangeColumns`; 0 when an offence text changed), on the writer, before the write returns.
    func observeCaseChanges(_ onCommit: @escaping @Sendable ([Int64]) -> Void) {
        pool.add(transactionObserver: CaseChangeObserver(onCommit: onCommit), extent: .databaseLifetime)
    }

    /// The one-line error for a database failure while working on `file`: the lock of another process, or SQLite's message.
    public func failure(_ e: DatabaseError, file: String) -> LotseError {
        if e.resultCode == .SQLITE_BUSY || e.resultCode == .SQLITE_LOCKED {
            return .io("\(path): the database is locked by another process")
        }
        return .io("\(file): database error: \(e.message ?? e.description)")
    }
}

public enum Schema {
    public static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1-cases") { db in
            try db.execute(
                sql: """
                    CREATE TABLE offences (
                        tbnr TEXT PRIMARY KEY,
                        text_de TEXT NOT NULL,
                        amount_cents INTEGER NOT NULL,
                        points INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE TABLE imports (
                        id INTEGER PRIMARY KEY,
                        file_name TEXT NOT NULL,
                        format TEXT NOT NULL,
                        imported_at INTEGER NOT NULL,
                        imported INTEGER NOT NULL DEFAULT 0,
                        duplicates INTEGER NOT NULL DEFAULT 0,
                        rejected INTEGER NOT NULL DEFAULT 0,
                        rejects_file TEXT
                    );
                    CREATE TABLE case_counters (
                        year INTEGER PRIMARY KEY,
                        last INTEGER NOT NULL
                    );
                    CREATE TABLE cases (
                        id INTEGER PRIMARY KEY,
                        case_number TEXT NOT NULL UNIQUE,
                        source_id TEXT NOT NULL UNIQUE,
                        ticket_no TEXT,
                        device_id TEXT,
                        officer_id TEXT,
                        issued_at INTEGER NOT NULL,
                        plate TEXT NOT NULL,
                        plate_country TEXT NOT NULL,
                        tbnr TEXT NOT NULL REFERENCES offences(tbnr),
                        amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
                        street TEXT NOT NULL,
                        house_no TEXT,
                        place_note TEXT,
                        zip TEXT,
                        city TEXT NOT NULL,
                        lat REAL,
                        lon REAL,
                        qr_printed INTEGER NOT NULL DEFAULT 1,
                        vehicle_make TEXT,
                        vehicle_color TEXT,
                        deadline TEXT NOT NULL,
                        status TEXT NOT NULL DEFAULT 'open'
                            CHECK (status IN ('open', 'paid', 'overdue', 'reminded', 'cancelled')),
                        import_id INTEGER REFERENCES imports(id),
                        qr_written_at INTEGER,
                        created_at INTEGER NOT NULL
                    );
                    CREATE TABLE events (
                        id INTEGER PRIMARY KEY,
                        case_id INTEGER NOT NULL REFERENCES cases(id),
                        kind TEXT NOT NULL,
                        at INTEGER NOT NULL,
                        detail TEXT
                    );
                    CREATE INDEX events_case ON events(case_id);
                    """
            )
        }
        m.registerMigration("v2-payments") { db in
            // Every payment that reached the city, matched or not. `disposition` says what became of it:
            // paid (closed its case), partial (too little, the case stays open), refund (double payment,
            // cancelled case; a surplus is `refund_cents` of a paid one), unmatched (for the office), rejected.
            try db.execute(
                sql: """
                    ALTER TABLE cases ADD COLUMN paid_at INTEGER;
                    ALTER TABLE cases ADD COLUMN paid_channel TEXT;
                    CREATE TABLE payments (
                        id INTEGER PRIMARY KEY,
                        case_id INTEGER REFERENCES cases(id),
                        channel TEXT NOT NULL CHECK (channel IN ('paypal', 'bank_transfer', 'cash')),
                        amount_cents INTEGER NOT NULL,
                        currency TEXT NOT NULL DEFAULT 'EUR',
                        paid_at INTEGER NOT NULL,
                        disposition TEXT NOT NULL
                            CHECK (disposition IN ('paid', 'partial', 'refund', 'unmatched', 'rejected')),
                        refund_cents INTEGER NOT NULL DEFAULT 0,
                        source TEXT NOT NULL,
                        dedup_key TEXT NOT NULL UNIQUE,
                        external_id TEXT,
                        payer TEXT,
                        reference TEXT,
                        note TEXT,
                        recorded_at INTEGER NOT NULL
                    );
                    CREATE INDEX payments_case ON payments(case_id);
                    CREATE INDEX payments_disposition ON payments(disposition);
                    CREATE TABLE bank_entries (
                        key TEXT PRIMARY KEY,
                        file_name TEXT NOT NULL,
                        imported_at INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    """
            )
        }
        m.registerMigration("v3-provider-orders") { db in
            // Orders at an online payment provider (PayPal): one open order per case is reused; `attempt`
            // counts the orders of a case and makes the provider's idempotency key.
            try db.execute(
                sql: """
                    CREATE TABLE provider_orders (
                        order_id TEXT PRIMARY KEY,
                        provider TEXT NOT NULL,
                        case_id INTEGER NOT NULL REFERENCES cases(id),
                        attempt INTEGER NOT NULL,
                        status TEXT NOT NULL
                            CHECK (status IN ('created', 'approved', 'pending', 'completed', 'cancelled', 'failed')),
                        approve_url TEXT NOT NULL,
                        amount_cents INTEGER NOT NULL,
                        language TEXT NOT NULL,
                        capture_id TEXT,
                        created_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL
                    );
                    CREATE INDEX provider_orders_case ON provider_orders(case_id);
                    CREATE TABLE webhook_events (
                        id TEXT PRIMARY KEY,
                        provider TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        received_at INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    """
            )
        }
        m.registerMigration("v4-case-milestones") { db in
            // The statistics read one row per case instead of the whole event log: the first page view (and
            // its language), the first hand-off and the reminder are kept on the case. Triggers keep the first
            // two in step with the events whoever writes them; the dunning run sets `reminded_at` itself.
            try db.execute(
                sql: """
                    ALTER TABLE cases ADD COLUMN first_viewed_at INTEGER;
                    ALTER TABLE cases ADD COLUMN view_lang TEXT;
                    ALTER TABLE cases ADD COLUMN handoff_at INTEGER;
                    ALTER TABLE cases ADD COLUMN reminded_at INTEGER;
                    UPDATE cases SET
                        first_viewed_at = (SELECT min(at) FROM events e WHERE e.case_id = cases.id AND e.kind = 'page_viewed'),
                        handoff_at = (SELECT min(at) FROM events e WHERE e.case_id = cases.id AND e.kind = 'handoff_started'),
                        reminded_at = (SELECT min(at) FROM events e WHERE e.case_id = cases.id AND e.kind = 'reminder');
                    UPDATE cases SET view_lang = (SELECT substr(detail, 6) FROM events e WHERE e.case_id = cases.id
                        AND e.kind = 'page_viewed' ORDER BY at LIMIT 1) WHERE first_viewed_at IS NOT NULL;
                    CREATE TRIGGER events_first_view AFTER INSERT ON events
                    WHEN NEW.kind = 'page_viewed' BEGIN
                        UPDATE cases SET first_viewed_at = NEW.at,
                            view_lang = CASE WHEN NEW.detail LIKE 'lang=%' THEN substr(NEW.detail, 6) END
                        WHERE id = NEW.case_id AND (first_viewed_at IS NULL OR first_viewed_at > NEW.at);
                    END;
                    CREATE TRIGGER events_first_handoff AFTER INSERT ON events
                    WHEN NEW.kind = 'handoff_started' BEGIN
                        UPDATE cases SET handoff_at = NEW.at WHERE id = NEW.case_id AND (handoff_at IS NULL OR handoff_at > NEW.at);
                    END;
                    """
            )
        }
        m.registerMigration("v5-stats-cells") { db in
            // Pre-aggregated statistics: one cell per (Berlin issue day, QR printed, deadline). New cases are folded
            // in by `StatisticsCells.fold` (the import pays nothing); changes to cases already folded are applied by a
            // trigger as a difference of the old and the new row (replaced in v10, see StatisticsCells.swift).
            // `lotse stats` then reads a few hundred cells.
            try db.execute(
                sql: """
                    ALTER TABLE cases ADD COLUMN issued_day TEXT;
                    CREATE TABLE deadline_ends (deadline TEXT PRIMARY KEY, end_utc INTEGER NOT NULL) WITHOUT ROWID;
                    CREATE TABLE stats_state (id INTEGER PRIMARY KEY CHECK (id = 1), last_case_id INTEGER NOT NULL);
                    INSERT INTO stats_state VALUES (1, 0);
                    CREATE TABLE stats_cells (
                        day TEXT NOT NULL, qr INTEGER NOT NULL, deadline TEXT NOT NULL,
                        issued INTEGER NOT NULL DEFAULT 0, scanned INTEGER NOT NULL DEFAULT 0, handoff INTEGER NOT NULL DEFAULT 0,
                        paid INTEGER NOT NULL DEFAULT 0, paid_paypal INTEGER NOT NULL DEFAULT 0, paid_bank INTEGER NOT NULL DEFAULT 0,
                        paid_cash INTEGER NOT NULL DEFAULT 0, paid_on_time INTEGER NOT NULL DEFAULT 0, reminded INTEGER NOT NULL DEFAULT 0,
                        PRIMARY KEY (day, qr, deadline)
                    ) WITHOUT ROWID;
                    CREATE TABLE stats_pay_times (
                        day TEXT NOT NULL, channel TEXT NOT NULL, bucket INTEGER NOT NULL, n INTEGER NOT NULL DEFAULT 0,
                        PRIMARY KEY (day, channel, bucket)
                    ) WITHOUT ROWID;
                    CREATE TABLE stats_langs (
                        day TEXT NOT NULL, lang TEXT NOT NULL, n INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (day, lang)
                    ) WITHOUT ROWID;
                    CREATE TRIGGER cases_stats AFTER UPDATE OF status, paid_channel, paid_at, first_viewed_at, view_lang, handoff_at, reminded_at
                    ON cases WHEN NEW.id <= (SELECT last_case_id FROM stats_state WHERE id = 1) BEGIN
                        UPDATE stats_cells SET
                            issued = issued - (OLD.status != 'cancelled') + (NEW.status != 'cancelled'),
                            scanned = scanned - (OLD.status != 'cancelled' AND OLD.first_viewed_at IS NOT NULL) + (NEW.status != 'cancelled' AND NEW.first_viewed_at IS NOT NULL),
                            handoff = handoff - (OLD.status != 'cancelled' AND OLD.handoff_at IS NOT NULL) + (NEW.status != 'cancelled' AND NEW.handoff_at IS NOT NULL),
                            paid = paid - (OLD.status = 'paid') + (NEW.status = 'paid'),
                            paid_paypal = paid_paypal - (OLD.status = 'paid' AND OLD.paid_channel = 'paypal') + (NEW.status = 'paid' AND NEW.paid_channel = 'paypal'),
                            paid_bank = paid_bank - (OLD.status = 'paid' AND OLD.paid_channel = 'bank_transfer') + (NEW.status = 'paid' AND NEW.paid_channel = 'bank_transfer'),
                            paid_cash = paid_cash - (OLD.status = 'paid' AND OLD.paid_channel = 'cash') + (NEW.status = 'paid' AND NEW.paid_channel = 'cash'),
                            paid_on_time = paid_on_time - (OLD.status = 'paid' AND OLD.paid_at < coalesce((SELECT end_utc FROM deadline_ends d WHERE d.deadline = OLD.deadline), 0)) + (NEW.status = 'paid' AND NEW.paid_at < coalesce((SELECT end_utc FROM deadline_ends d WHERE d.deadline = NEW.deadline), 0)),
                            reminded = reminded - (OLD.status != 'cancelled' AND OLD.reminded_at IS NOT NULL) + (NEW.status != 'cancelled' AND NEW.reminded_at IS NOT NULL)
                        WHERE day = NEW.issued_day AND qr = NEW.qr_printed AND deadline = NEW.deadline;
                        UPDATE stats_pay_times SET n = n - 1 WHERE OLD.status = 'paid' AND day = OLD.issued_day
                            AND channel = OLD.paid_channel AND bucket = (OLD.paid_at - OLD.issued_at) / 21600;
                        INSERT INTO stats_pay_times (day, channel, bucket, n)
                            SELECT NEW.issued_day, NEW.paid_channel, (NEW.paid_at - NEW.issued_at) / 21600, 1 WHERE NEW.status = 'paid'
                            ON CONFLICT (day, channel, bucket) DO UPDATE SET n = n + 1;
                        UPDATE stats_langs SET n = n - 1 WHERE OLD.status != 'cancelled' AND OLD.view_lang IS NOT NULL
                            AND day = OLD.issued_day AND lang = OLD.view_lang;
                        INSERT INTO stats_langs (day, lang, n)
                            SELECT NEW.issued_day, NEW.view_lang, 1 WHERE NEW.status != 'cancelled' AND NEW.view_lang IS NOT NULL
                            ON CONFLICT (day, lang) DO UPDATE SET n = n + 1;
                    END;
                    """
            )
            // Cases from before this migration: their Berlin issue day and deadline ends.
            let rows = try Row.fetchAll(db, sql: "SELECT id, issued_at FROM cases")
            let st = try db.makeStatement(sql: "UPDATE cases SET issued_day = ? WHERE id = ?")
            for r in rows { try st.execute(arguments: [BerlinTime.local(r["issued_at"]).date.description, r["id"] as Int64]) }
            for d in try String.fetchAll(db, sql: "SELECT DISTINCT deadline FROM cases") {
                if let c = CivilDate(iso: d) { try noteDeadline(db, c) }
            }
        }
        // The `imported` event of a case is its row (created_at, import_id): no second row per case in
        // `events`, which doubled what an import writes. `case_events` shows the history with it.
        m.registerMigration("v6-imported-events-implied") { db in
            try db.execute(
                sql: """
                    DELETE FROM events WHERE kind = 'imported';
                    CREATE VIEW case_events AS
                        SELECT id AS case_id, 'imported' AS kind, created_at AS at, NULL AS detail, 0 AS seq FROM cases
                        UNION ALL
                        SELECT case_id, kind, at, detail, id AS seq FROM events;
                    """
            )
        }
        // Which cases changed, for the case cache of a server in another process (`CaseCache.pollChanges`).
        // Only columns the pages use (`CaseChangeColumns`, which a test keeps equal to this list); case_id 0: an
        // offence text changed. Frozen SQL: a later change of the columns is a new migration.
        m.registerMigration("v7-case-changes") { db in
            try db.execute(
                sql: """
                    CREATE TABLE case_changes (seq INTEGER PRIMARY KEY, case_id INTEGER NOT NULL);
                    CREATE TRIGGER cases_changed AFTER UPDATE OF amount_cents, case_number, city, deadline, device_id, house_no,
                        issued_at, officer_id, paid_at, paid_channel, place_note, plate, plate_country, qr_printed, source_id, status,
                        street, tbnr, ticket_no, zip ON cases
                    BEGIN
                        INSERT INTO case_changes (case_id) VALUES (NEW.id);
                    END;
                    CREATE TRIGGER cases_deleted AFTER DELETE ON cases BEGIN
                        INSERT INTO case_changes (case_id) VALUES (OLD.id);
                    END;
                    CREATE TRIGGER offences_changed AFTER UPDATE OF text_de ON offences
                    WHEN OLD.text_de IS NOT NEW.text_de BEGIN
                        INSERT INTO case_changes (case_id) VALUES (0);
                    END;
                    """
            )
        }
        // Online payments: request ids per attempt, one capture claim per case, refunds through the provider.
        m.registerMigration("v8-provider-claims") { db in try ProviderOrders.migrateV8(db) }
        // The lookup form finds a case by its number typed in any form (CaseQueries.lookup): one index
        // search for hits and misses alike, never a scan of every case. (Dropped by v22.)
        m.registerMigration("v9-case-number-compact-index") { db in
            try db.execute(sql: "CREATE INDEX cases_number_compact ON cases (upper(replace(case_number, '-', '')))")
        }
        // The statistics cells' triggers, next to the fold they must agree with (StatisticsCells.swift); they
        // replace v5's `cases_stats`.
        m.registerMigration("v10-stats-cells-triggers") { db in try StatisticsCells.migrateV10(db) }
        // Cases per status for /metrics, kept by the fold and a trigger (no GROUP BY over every case per scrape).
        m.registerMigration("v11-stats-status") { db in try StatisticsCells.migrateV11(db) }
        // Enrolled handhelds and their key generations; cases found by device and ticket number (formats §2b).
        m.registerMigration("v12-devices") { db in try Devices.migrateV12(db) }
        // Payments made before their ticket was imported wait for it (ticket_device, ticket_number).
        m.registerMigration("v13-payments-waiting-for-tickets") { db in try Devices.migrateV13(db) }
        // Operations: the jobs' last runs, retention (`erased_at`), the handover status.
        m.registerMigration("v14-operations") { db in try Operations.migrateV14(db) }
        // What a case has received in partial payments, on the case, so the page asks for what is still due.
        m.registerMigration("v15-received") { db in try Ledger.migrateV15(db) }
        // The city's e-payment platform (XBezahldienste, formats §6): its channel, its transaction id beside the request id,
        // and the statistics count its payments as paid online, with PayPal's.
        m.registerMigration("v16-epayment") { db in
            try ProviderOrders.migrateV16(db)
            try StatisticsCells.migrateV16(db)
        }
        // The office console: users, the sessions' key-value store, the audit log (append-only, hash-chained).
        m.registerMigration("v17-accounts") { db in try Accounts.migrateV17(db) }
        // Statements of motorists on their cases, with attachments; a pending one holds the case out of the dunning.
        m.registerMigration("v18-statements") { db in try Statements.migrateV18(db) }
        // Money in the statistics (collected by channel, outstanding, handed over), kept like the cells.
        m.registerMigration("v19-stats-money") { db in try StatisticsCells.migrateV19(db) }
        // The ground of a motorist's statement (not the driver, a valid ticket, an emergency, other).
        m.registerMigration("v20-statement-grounds") { db in try Statements.migrateV20(db) }
        // The warden's photos from the handheld exports, and their count on the case (issue 16).
        m.registerMigration("v21-evidence") { db in try Evidence.migrateV21(db) }
        // The lookup puts a typed number back in its stored form and searches the unique index on `case_number`
        // (CaseQueries.lookup): v9's index of the numbers' letters and digits goes, and with it a fifth index on
        // every imported case.
        m.registerMigration("v22-drop-case-number-compact-index") { db in try db.execute(sql: "DROP INDEX cases_number_compact") }
        return m
    }

    /// Records when a deadline day ends (midnight after it in Berlin, as UTC seconds): paid before that is on time.
    public static func noteDeadline(_ db: Database, _ d: CivilDate) throws {
        try db.execute(
            sql: "INSERT OR IGNORE INTO deadline_ends (deadline, end_utc) VALUES (?, ?)",
            arguments: [d.description, BerlinTime.utc(date: d.adding(days: 1), hour: 0, minute: 0)]
        )
    }
}

/// A few read-only connections taken without waiting: a request takes the first free one (an atomic
/// flag, no lock, no dispatch queue of the pool) or, when all are busy, falls back to the pool.
/// GRDB's pool checks the schema version and manages its readers on every read, which costs more
/// than the case page's indexed lookup itself; these connections keep their cached statements
/// (SQLite re-prepares them by itself if another process migrates the schema).
final class QuickReaders: Sendable {
    /// `@unchecked Sendable`: `queue` is read and written only by the thread that set `busy` from false to true
    /// (a compare-exchange), and released by setting it back, so no two threads touch it at once.
    final class Slot: @unchecked Sendable {
        let busy = Atomic<Bool>(false)
        /// Opened on first use; touched only by the holder of `busy`.
        var queue: DatabaseQueue?
    }

    let path: String
    let slots: [Slot]

    init(path: String, count: Int) {
        self.path = path
        slots = (0..<count).map { _ in Slot() }
    }

    /// nil when every connection is busy.
    func read<T>(_ body: (Database) throws -> T) throws -> T? {
        // the first free one: one thread reading alone (the case cache's miss thread) keeps one connection, whose page
        // cache and memory map stay warm
        for slot in slots {
            guard slot.busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { continue }
            defer { slot.busy.store(false, ordering: .releasing) }
            if slot.queue == nil {
                var config = Configuration()
                config.readonly = true
                config.busyMode = .timeout(10)
                // pages read through a memory map: no read() per page after the cache is reset by a write; the whole file
                // up to SQLite's limit of 2 GB (256 MB had left a third of a million cases' database to read())
                config.prepareDatabase { db in try db.execute(sql: "PRAGMA mmap_size = 2147418112") }
                slot.queue = try DatabaseQueue(path: path, configuration: config)
            }
            return try slot.queue!.inDatabase(body)
        }
        return nil
    }
}
