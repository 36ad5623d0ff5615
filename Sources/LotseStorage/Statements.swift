import Foundation
import GRDB
import LotseCore

/// A motorist's statement on a case (objection, explanation), with its attachments, and the office's decision.
public struct StatementRecord: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable {
        case pending, accepted, rejected
    }

    /// Why the motorist writes (issue 16): the ground they chose on the form.
    public enum Ground: String, Sendable, CaseIterable {
        case notDriver = "not_driver"
        case validTicket = "valid_ticket"
        case emergency
        case other
    }

    public var id: Int64
    public var caseID: Int64
    public var caseNumber: String
    public var text: String
    /// The ground chosen on the form (nil: a statement sent before grounds existed, migration v20).
    public var ground: Ground?
    /// File names in the data directory's `statements/` folder.
    public var attachments: [String]
    public var status: Status
    public var reason: String?
    public var decidedBy: String?
    public var createdAt: Int64

    init(row: Row) throws {
        id = row["id"]
        caseID = row["case_id"]
        caseNumber = row["case_number"]
        text = row["text"]
        ground = try (row["ground"] as String?).map { try Vocabulary.decode($0, column: "statements.ground") }
        attachments = Statements.attachmentNames(row["attachments"])
        status = try Vocabulary.decode(row["status"] as String, column: "statements.status")
        reason = row["reason"]
        decidedBy = row["decided_by"]
        createdAt = row["created_at"]
    }
}

enum Statements {
    /// The file names of a statement's `attachments` column (one per line).
    static func attachmentNames(_ column: String) -> [String] { column.split(separator: "\n").map(String.init) }

    /// The file names of every statement's attachments (in `statements/`).
    static func allAttachments(_ db: Database) throws -> [String] {
        try String.fetchAll(db, sql: "SELECT attachments FROM statements WHERE attachments != '' ORDER BY id").flatMap(attachmentNames)
    }

    /// Migration v20 (frozen SQL): the ground the motorist chose (`not_driver`, `valid_ticket`, `emergency`, `other`).
    static func migrateV20(_ db: Database) throws {
        try db.execute(
            sql: """
                ALTER TABLE statements ADD COLUMN ground TEXT
                    CHECK (ground IS NULL OR ground = 'not_driver' OR ground = 'valid_ticket' OR ground = 'emergency' OR ground = 'other')
                """
        )
    }

    /// Migration v18 (frozen SQL).
    static func migrateV18(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE statements (
                    id INTEGER PRIMARY KEY,
                    case_id INTEGER NOT NULL REFERENCES cases(id),
                    text TEXT NOT NULL,
                    attachments TEXT NOT NULL DEFAULT '',
                    status TEXT NOT NULL DEFAULT 'pending' CHECK (status = 'pending' OR status = 'accepted' OR status = 'rejected'),
                    reason TEXT,
                    decided_by TEXT,
                    decided_at INTEGER,
                    created_at INTEGER NOT NULL
                );
                CREATE INDEX statements_pending ON statements (status, case_id);
                """
        )
    }

    static let select = "SELECT statements.*, cases.case_number FROM statements JOIN cases ON cases.id = statements.case_id"

    /// The condition that keeps a case with a pending statement out of the dunning (`id` is the case's).
    public static let noPendingStatement = "id NOT IN (SELECT case_id FROM statements WHERE status = 'pending')"
}

extension Store {
    /// Records a statement with its ground and its attachments' file names, and the case's `statement_received` event.
    /// Returns its id, which the motorist gets as the receipt number.
    public func addStatement(
        caseID: Int64,
        ground: StatementRecord.Ground,
        text: String,
        attachments: [String],
        now: Int64
    ) async throws -> Int64 {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO statements (case_id, ground, text, attachments, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [caseID, ground.rawValue, text, attachments.joined(separator: "\n"), now]
            )
            let id = db.lastInsertedRowID
            try CaseQueries.addEvent(db, caseID: caseID, kind: .statementReceived, at: now, detail: "statement \(id)")
            return id
        }
    }

    /// Statements with this status, oldest first (the office's queue).
    public func statements(_ status: StatementRecord.Status, limit: Int = 500) async throws -> [StatementRecord] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: Statements.select + " WHERE statements.status = ? ORDER BY statements.id LIMIT ?",
                arguments: [status.rawValue, limit]
            ).map(StatementRecord.init(row:))
        }
    }

    public func statement(id: Int64) async throws -> StatementRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: Statements.select + " WHERE statements.id = ?", arguments: [id]).map(StatementRecord.init(row:))
        }
    }

    /// Decides a pending statement (the case is then dunned again if unpaid); false when it is not pending.
    public func decideStatement(id: Int64, accepted: Bool, reason: String, by user: String, now: Int64) async throws -> Bool {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE statements SET status = ?, reason = ?, decided_by = ?, decided_at = ? WHERE id = ? AND status = 'pending'",
                arguments: [accepted ? "accepted" : "rejected", reason, user, now, id]
            )
            guard db.changesCount == 1, let caseID = try Int64.fetchOne(db, sql: "SELECT case_id FROM statements WHERE id = ?", arguments: [id])
            else { return false }
            try CaseQueries.addEvent(db, caseID: caseID, kind: .statementDecided, at: now, detail: (accepted ? "accepted: " : "rejected: ") + reason)
            return true
        }
    }

    /// How many statements wait for a decision (the console's start page).
    public func pendingStatementCount() async throws -> Int {
        try await pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM statements WHERE status = 'pending'") ?? 0 }
    }
}
