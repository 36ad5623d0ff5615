import Foundation
import GRDB
import LotseCore

/// What operators need of the database: the last run of each job, retention (personal data erased after the
/// retention period), the handover to the Bußgeld procedure, backups and restores, and the figures of `/metrics`.
public enum Operations {
    /// Migration v14 (frozen SQL): the jobs' last runs; a case's `erased_at`; the status `handed_over`.
    ///
    /// SQLite cannot alter a CHECK constraint. Its documentation ("Making Other Kinds Of Table Schema Changes")
    /// allows editing the table's text in `sqlite_schema` when every existing row satisfies the new constraint, as
    /// here, where a value is only added; the schema version is raised so that every connection reads it again.
    /// The check is written as comparisons joined by OR: SQLite evaluates `status IN (five or more constants)` by
    /// building a temporary index for every row written (a tenth of the import's time went into it).
    static func migrateV14(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE job_runs (
                    job TEXT PRIMARY KEY,
                    last_run_at INTEGER NOT NULL,
                    detail TEXT
                ) WITHOUT ROWID;
                ALTER TABLE cases ADD COLUMN erased_at INTEGER;
                PRAGMA writable_schema = ON;
                UPDATE sqlite_schema
                SET sql = replace(
                    sql,
                    'status IN (''open'', ''paid'', ''overdue'', ''reminded'', ''cancelled'')',
                    'status = ''open'' OR status = ''paid'' OR status = ''overdue'' OR status = ''reminded'' OR status = ''cancelled'' OR status = ''handed_over'''
                )
                WHERE type = 'table' AND name = 'cases';
                PRAGMA writable_schema = OFF;
                """
        )
        let version = try Int.fetchOne(db, sql: "PRAGMA schema_version") ?? 0
        try db.execute(sql: "PRAGMA schema_version = \(version + 1)")
        let table = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'cases'") ?? ""
        guard table.contains("'handed_over'") else { throw LotseError.io("migration v14: the cases table's status check was not widened") }
    }

    /// Records that `job` ran at `at` (inside the caller's transaction).
    static func noteRun(_ db: Database, job: Job, at: Int64, detail: String? = nil) throws {
        try db.execute(
            sql: """
                INSERT INTO job_runs (job, last_run_at, detail) VALUES (?, ?, ?)
                ON CONFLICT(job) DO UPDATE SET last_run_at = excluded.last_run_at, detail = excluded.detail
                """,
            arguments: [job.rawValue, at, detail]
        )
    }

    /// The cases of a backup and the files it names in the data directory (a backup of a version before photos or
    /// statements names none).
    static func backupSummary(_ db: Database) throws -> BackupSummary {
        var summary = BackupSummary(cases: try Int.fetchOne(db, sql: "SELECT count(*) FROM cases") ?? 0)
        if try db.tableExists("evidence") { summary.files += try Evidence.allFiles(db).map { "evidence/" + $0 } }
        if try db.tableExists("statements") { summary.files += try Statements.allAttachments(db).map { "statements/" + $0 } }
        return summary
    }
}

/// The jobs whose last successful run `/metrics` reports (`lotse_last_run_timestamp_seconds`).
public enum Job: String, Sendable, CaseIterable {
    case `import`, reconcile, dunning, retention, handover, backup
}

/// What a retention run erased (or, dry, would erase).
public struct RetentionSummary: Sendable, Equatable {
    public var cases = 0
    public var payments = 0
    /// Files of the erased cases the caller deletes, relative to the data directory: the warden's photos
    /// (`evidence/…`) and the attachments of the motorists' statements (`statements/…`).
    public var files: [String] = []
}

/// What a backup holds (or a restore brought back).
public struct BackupSummary: Sendable, Equatable {
    public var cases = 0
    /// The files the copied database names in the data directory, relative to it: the warden's photos (`evidence/…`)
    /// and the attachments of the motorists' statements (`statements/…`). The caller copies them beside the database.
    public var files: [String] = []
}

/// An unpaid case for the Bußgeld procedure: the columns of the handover file.
public struct HandoverCase: Sendable {
    public var record: CaseRecord
    public var vehicleMake: String?
    public var vehicleColor: String?
    public var lat: Double?
    public var lon: Double?
    public var remindedAt: Int64?
    /// Received in partial payments.
    public var receivedCents: Int
}

/// The figures of `/metrics` that the database holds, each read through an index or a small table.
public struct OperationsFigures: Sendable, Equatable {
    public var lastRuns: [Job: Int64] = [:]
    public var unmatchedPayments = 0
    public var refundsDue = 0
    /// Since when the oldest provider order approved (or pending at the provider) but not finished waits (nil: none).
    public var oldestOpenOrderAt: Int64?
    public var imports = 0
    public var importedTickets = 0
    public var rejectedRows = 0
}

extension Store {
    /// Records a successful run of `job`.
    public func noteRun(_ job: Job, at: Int64, detail: String? = nil) throws {
        try write { db in try Operations.noteRun(db, job: job, at: at, detail: detail) }
    }

    /// Erases the personal data of every case closed (paid, cancelled, handed over) before `closedBefore`: plate,
    /// place, GPS, vehicle and officer of the case; payer, reference text and the payer's account in the dedup key
    /// of its payments; the reason of its cancellation. Kept: case number, ticket number, device, TBNR, amounts,
    /// dates, status and channel, so the books and the statistics stay as they were (the statistics' triggers do
    /// not look at the erased columns). The warden's photos and the statements' texts and attachments go too (their
    /// files are listed in `files` for the caller to delete). A case is erased once (`erased_at`, and an `erased` event). `dryRun`
    /// counts what would be erased and changes nothing.
    public func eraseClosedCases(closedBefore cutoff: Int64, now: Int64, dryRun: Bool) throws -> RetentionSummary {
        try write { db in
            // closed: paid at `paid_at`; cancelled or handed over at that event
            let ids = try Int64.fetchAll(
                db,
                sql: """
                    SELECT id FROM cases c
                    WHERE erased_at IS NULL AND status IN ('paid', 'cancelled', 'handed_over')
                      AND coalesce(
                            CASE WHEN status = 'paid' THEN paid_at END,
                            (SELECT max(at) FROM events e WHERE e.case_id = c.id AND e.kind IN ('cancelled', 'handed_over')),
                            created_at) < ?
                    ORDER BY id
                    """,
                arguments: [cutoff]
            )
            var summary = RetentionSummary(cases: ids.count)
            for id in ids {
                summary.payments += try Int.fetchOne(db, sql: "SELECT count(*) FROM payments WHERE case_id = ?", arguments: [id]) ?? 0
                let attachments = try String.fetchAll(db, sql: "SELECT attachments FROM statements WHERE case_id = ?", arguments: [id])
                    .flatMap(Statements.attachmentNames).map { "statements/" + $0 }
                if dryRun {
                    summary.files += try Evidence.files(db, caseID: id).map { "evidence/" + $0 } + attachments
                    continue
                }
                // the photos show the plate; a statement is the motorist's own words
                summary.files += try Evidence.remove(db, caseID: id).map { "evidence/" + $0 } + attachments
                try db.execute(sql: "UPDATE statements SET text = '', attachments = '' WHERE case_id = ?", arguments: [id])
                try db.execute(
                    sql: """
                        UPDATE cases SET plate = '', plate_country = '', street = '', house_no = NULL, place_note = NULL,
                            zip = NULL, city = '', lat = NULL, lon = NULL, vehicle_make = NULL, vehicle_color = NULL,
                            officer_id = NULL, erased_at = ?
                        WHERE id = ?;
                        UPDATE payments SET payer = NULL, reference = NULL, note = NULL,
                            dedup_key = CASE WHEN dedup_key LIKE 'camt%' THEN 'erased:' || id ELSE dedup_key END
                        WHERE case_id = ?;
                        UPDATE events SET detail = NULL WHERE case_id = ? AND kind = 'cancelled';
                        """,
                    arguments: [now, id, id, id]
                )
                try CaseQueries.addEvent(db, caseID: id, kind: .erased, at: now)
            }
            // transfers never matched to a case, and the bank's end-to-end keys (they hold the payer's IBAN), after the
            // same period; what a booking said stays known by its hash, so an old statement is still a duplicate
            // and what reached a case after its data was erased (a late transfer, an assignment by the office)
            let leftovers = """
                (case_id IS NULL AND recorded_at < ?
                    OR case_id IN (SELECT id FROM cases WHERE erased_at IS NOT NULL))
                AND (payer IS NOT NULL OR reference IS NOT NULL OR note IS NOT NULL OR dedup_key LIKE 'camt%')
                """
            summary.payments += try Int.fetchOne(db, sql: "SELECT count(*) FROM payments WHERE \(leftovers)", arguments: [cutoff]) ?? 0
            if !dryRun {
                try db.execute(
                    sql: """
                        UPDATE payments SET payer = NULL, reference = NULL, note = NULL,
                            dedup_key = CASE WHEN dedup_key LIKE 'camt%' THEN 'erased:' || id ELSE dedup_key END
                        WHERE \(leftovers);
                        DELETE FROM bank_entries WHERE (key LIKE 'camt-e2e:%' OR key LIKE 'camt:%') AND imported_at < ?;
                        """,
                    arguments: [cutoff, cutoff]
                )
                try Operations.noteRun(db, job: .retention, at: now, detail: "\(summary.cases) cases")
            }
            return summary
        }
    }

    /// The handover to the Bußgeld procedure: every case still `reminded` whose reminder is older than
    /// `remindedBefore` is passed to `each` (in id order) and then gets the status `handed_over` and a `handed_over`
    /// event (detail `file`). `beforeCommit` runs last (the file is written and renamed there): if it throws, nothing
    /// is marked. Returns how many cases.
    public func handOver(
        remindedBefore: Int64,
        at: Int64,
        file: String,
        each: (HandoverCase) throws -> Void,
        beforeCommit: () throws -> Void
    ) throws -> Int {
        do {
            return try pool.writeWithoutTransaction { db in
                var count = 0
                try db.inTransaction(.immediate) {
                    let ids = try Int64.fetchAll(
                        db,
                        sql: "SELECT id FROM cases WHERE status = 'reminded' AND reminded_at < ? ORDER BY id",
                        arguments: [remindedBefore]
                    )
                    for id in ids {
                        guard let record = try CaseQueries.byID(db, id),
                            let row = try Row.fetchOne(
                                db,
                                sql: """
                                    SELECT vehicle_make, vehicle_color, lat, lon, reminded_at,
                                        (SELECT coalesce(sum(amount_cents), 0) FROM payments p
                                         WHERE p.case_id = cases.id AND p.disposition = 'partial') AS received
                                    FROM cases WHERE id = ?
                                    """,
                                arguments: [id]
                            )
                        else { continue }
                        try each(
                            HandoverCase(
                                record: record,
                                vehicleMake: row[0],
                                vehicleColor: row[1],
                                lat: row[2],
                                lon: row[3],
                                remindedAt: row[4],
                                receivedCents: row[5]
                            )
                        )
                        try db.execute(sql: "UPDATE cases SET status = 'handed_over' WHERE id = ?", arguments: [id])
                        try CaseQueries.addEvent(db, caseID: id, kind: .handedOver, at: at, detail: file)
                    }
                    count = ids.count
                    try Operations.noteRun(db, job: .handover, at: at, detail: "\(count) cases")
                    try beforeCommit()
                    return .commit
                }
                return count
            }
        } catch let error as DatabaseError {
            throw failure(error, file: file)
        }
    }

    /// A consistent copy of the database at `path` (SQLite's online backup API: the server may go on reading and
    /// writing meanwhile), checked with `PRAGMA integrity_check` before it is kept. Returns how many cases it holds and
    /// the files it names (read from the copy, so they are the files of that moment).
    public func backup(to path: String) throws -> BackupSummary {
        let live = [self.path, self.path + "-wal", self.path + "-shm"].map { ($0 as NSString).resolvingSymlinksInPath }
        let target = ((path as NSString).standardizingPath as NSString).resolvingSymlinksInPath
        guard !live.contains(target), !target.hasSuffix("/keys.json") else {
            throw LotseError.input("\(path) is the live database or the key ring: choose another file for the backup")
        }
        let part = path + ".\(getpid()).part"
        try? FileManager.default.removeItem(atPath: part)
        do {
            let copy = try DatabaseQueue(path: part)
            try pool.backup(to: copy)
            let (check, summary) = try copy.read { db in
                (try String.fetchAll(db, sql: "PRAGMA integrity_check"), try Operations.backupSummary(db))
            }
            try copy.close()
            guard check == ["ok"] else {
                try? FileManager.default.removeItem(atPath: part)
                throw LotseError.io("\(path): the copy failed its integrity check: \(check.prefix(3).joined(separator: "; "))")
            }
            // rename(2): an earlier copy of the same name is replaced in one step
            guard rename(part, path) == 0 else {
                try? FileManager.default.removeItem(atPath: part)
                throw LotseError.io("\(path): cannot put the copy in place: \(String(cString: strerror(errno)))")
            }
            return summary
        } catch let error as DatabaseError {
            try? FileManager.default.removeItem(atPath: part)
            throw LotseError.io("\(path): backup failed: \(error.message ?? "\(error.resultCode)")")
        }
    }

    /// Restores the backup `source` as the database at `target` (which must not exist): the file is opened read-only
    /// and checked (a Lotse database, `PRAGMA integrity_check` ok) before a byte is written; then copied through the
    /// backup API. Returns how many cases it holds and the files it names.
    public static func restore(from source: String, to target: String) throws -> BackupSummary {
        guard FileManager.default.fileExists(atPath: source) else { throw LotseError.input("\(source): no such file") }
        guard !FileManager.default.fileExists(atPath: target) else {
            throw LotseError.input("\(target) exists: restore only into an empty data directory")
        }
        do {
            var configuration = Configuration()
            configuration.readonly = true
            let backup = try DatabaseQueue(path: source, configuration: configuration)
            let (check, isLotse, summary, newer) = try backup.read { db -> ([String], Bool, BackupSummary, Bool) in
                let check = try String.fetchAll(db, sql: "PRAGMA integrity_check")
                let isLotse = try db.tableExists("cases") && db.tableExists("grdb_migrations")
                guard isLotse, check == ["ok"] else { return (check, isLotse, BackupSummary(), false) }
                return (check, true, try Operations.backupSummary(db), try Schema.migrator.hasBeenSuperseded(db))
            }
            guard check == ["ok"] else {
                throw LotseError.input("\(source): damaged (integrity check: \(check.prefix(3).joined(separator: "; "))): nothing restored")
            }
            guard isLotse else { throw LotseError.input("\(source): not a Lotse database: nothing restored") }
            guard !newer else {
                throw LotseError.input("\(source): written by a newer version of Lotse: restore it with that version; nothing restored")
            }
            let restored = try DatabaseQueue(path: target)
            try backup.backup(to: restored)
            try restored.close()
            try backup.close()
            return summary
        } catch let error as DatabaseError {
            try? FileManager.default.removeItem(atPath: target)
            throw LotseError.input("\(source): cannot be restored: \(error.message ?? "\(error.resultCode)")")
        }
    }

    /// What `lotse check` says of the database at `path`, read only (no migration runs): nil when there is none yet;
    /// else problems, one line each (empty: fine).
    public static func inspect(path: String) -> [String]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            var configuration = Configuration()
            configuration.readonly = true
            configuration.busyMode = .timeout(5)
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? queue.close() }
            return try queue.read { db -> [String] in
                var problems: [String] = []
                let check = try String.fetchAll(db, sql: "PRAGMA quick_check")
                if check != ["ok"] { problems.append("\(path): damaged (\(check.prefix(3).joined(separator: "; ")))") }
                if try db.tableExists("grdb_migrations"), try Schema.migrator.hasBeenSuperseded(db) {
                    problems.append("\(path): migrated by a newer version of Lotse; this one will not open it")
                }
                return problems
            }
        } catch {
            return ["\(path): cannot be read: \(error)"]
        }
    }

    /// The figures of `/metrics` kept in the database (off the event loop).
    public func operationsFigures() async throws -> OperationsFigures {
        try await readAsync { db in
            var f = OperationsFigures()
            for row in try Row.fetchAll(db, sql: "SELECT job, last_run_at FROM job_runs") {
                if let job = Job(rawValue: row[0]) { f.lastRuns[job] = row[1] }
            }
            // through the disposition index: only the payments of the two lists are counted
            f.unmatchedPayments = try Int.fetchOne(db, sql: "SELECT count(*) FROM payments WHERE disposition = 'unmatched'") ?? 0
            // the office's refund list, as `lotse payments list refunds` shows it
            f.refundsDue = try Ledger.refundCount(db)
            // approved by the payer (or held by the provider) and not finished: what the sweep must settle; an order the
            // motorist never approved (a closed tab) is not stuck
            f.oldestOpenOrderAt = try Int64.fetchOne(
                db,
                sql: "SELECT min(updated_at) FROM provider_orders WHERE status IN ('approved', 'pending')"
            )
            // one row per imported file
            if let row = try Row.fetchOne(
                db,
                sql: "SELECT count(*), coalesce(sum(imported), 0), coalesce(sum(rejected), 0) FROM imports"
            ) {
                f.imports = row[0]
                f.importedTickets = row[1]
                f.rejectedRows = row[2]
            }
            return f
        }
    }
}
