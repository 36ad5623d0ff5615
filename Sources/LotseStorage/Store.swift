import Foundation
import GRDB
import LotseCore

/// The Lotse database: one SQLite file in the data directory, WAL mode, foreign keys on,
/// versioned migrations. Times are stored as UTC seconds, money as integer cents.
public final class Store: Sendable {
    public let pool: DatabasePool
    public let path: String

    /// - Parameter busyTimeout: how long to wait for another process's write lock (0: fail at once).
    public init(path: String, busyTimeout: TimeInterval = 10) throws {
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = busyTimeout > 0 ? .timeout(busyTimeout) : .immediateError
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
            try Schema.migrator.migrate(pool)
        } catch let error as DatabaseError {
            throw LotseError.io("\(path): cannot open the database: \(error.message ?? error.description)")
        }
    }

    public convenience init(config: LotseConfig) throws {
        try self.init(path: config.databasePath)
    }

    public func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) throws -> T {
        try pool.read(body)
    }

    public func write<T: Sendable>(_ body: @Sendable (Database) throws -> T) throws -> T {
        try pool.write(body)
    }
}

public enum Schema {
    public static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1-cases") { db in
            try db.execute(sql: """
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
            """)
        }
        m.registerMigration("v2-payments") { db in
            // Every payment that reached the city, matched or not. `disposition` says what became of it:
            // paid (closed its case), partial (too little, the case stays open), refund (double payment,
            // cancelled case; a surplus is `refund_cents` of a paid one), unmatched (for the office), rejected.
            try db.execute(sql: """
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
            """)
        }
        m.registerMigration("v3-provider-orders") { db in
            // Orders at an online payment provider (PayPal): one open order per case is reused; `attempt`
            // counts the orders of a case and makes the provider's idempotency key.
            try db.execute(sql: """
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
            """)
        }
        m.registerMigration("v4-case-milestones") { db in
            // The statistics read one row per case instead of the whole event log: the first page view (and
            // its language), the first hand-off and the reminder are kept on the case. Triggers keep the first
            // two in step with the events whoever writes them; the dunning run sets `reminded_at` itself.
            try db.execute(sql: """
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
            """)
        }
        return m
    }
}
