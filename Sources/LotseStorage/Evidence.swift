import GRDB
import LotseCore

/// A photo the warden's handheld took of a case (issue 16): the picture lies in the data directory's `evidence/` folder
/// (0600, outside any web root, without its camera metadata); the page shows it to the holder of the case's token.
public struct EvidenceRecord: Sendable, Equatable {
    public var caseID: Int64
    /// 1, 2, … in the order the export named them.
    public var number: Int
    /// The file's name in `evidence/`.
    public var file: String
    public var contentType: String
}

enum Evidence {
    /// Migration v21 (frozen SQL): the photos, and their count on the case (read with the case, logged for the case cache
    /// of another process when it changes).
    static func migrateV21(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE evidence (
                    case_id INTEGER NOT NULL REFERENCES cases(id),
                    number INTEGER NOT NULL,
                    file TEXT NOT NULL,
                    content_type TEXT NOT NULL CHECK (content_type = 'image/jpeg' OR content_type = 'image/png'),
                    PRIMARY KEY (case_id, number)
                ) WITHOUT ROWID;
                ALTER TABLE cases ADD COLUMN photos INTEGER NOT NULL DEFAULT 0;
                CREATE TRIGGER cases_photos_changed AFTER UPDATE OF photos ON cases
                BEGIN
                    INSERT INTO case_changes (case_id) VALUES (NEW.id);
                END;
                """
        )
    }

    /// The files of every photo (in `evidence/`).
    static func allFiles(_ db: Database) throws -> [String] {
        try String.fetchAll(db, sql: "SELECT file FROM evidence ORDER BY case_id, number")
    }

    /// The files of a case's photos.
    static func files(_ db: Database, caseID: Int64) throws -> [String] {
        try String.fetchAll(db, sql: "SELECT file FROM evidence WHERE case_id = ? ORDER BY number", arguments: [caseID])
    }

    /// The files of a case's photos, and the photos gone from the table (retention).
    static func remove(_ db: Database, caseID: Int64) throws -> [String] {
        let files = try files(db, caseID: caseID)
        if !files.isEmpty {
            try db.execute(sql: "DELETE FROM evidence WHERE case_id = ?; UPDATE cases SET photos = 0 WHERE id = ?", arguments: [caseID, caseID])
        }
        return files
    }
}

extension ImportTransaction {
    /// How many photos the case imported with `sourceID` has (nil: no such case, or its personal data is erased: an old
    /// export sent again brings no photos back).
    public func photoCount(sourceID: String) throws -> Int? {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT photos FROM cases WHERE source_id = ? AND erased_at IS NULL"), arguments: [sourceID])
    }

    /// Attaches photos (already stored in `evidence/`) to the case imported with `sourceID`, numbered after those it has.
    public func attachPhotos(sourceID: String, _ photos: [(file: String, contentType: String)]) throws {
        guard !photos.isEmpty,
            let caseID = try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT id FROM cases WHERE source_id = ? AND erased_at IS NULL"),
                arguments: [sourceID]
            )
        else { return }
        var number = try Int.fetchOne(db, sql: "SELECT coalesce(max(number), 0) FROM evidence WHERE case_id = ?", arguments: [caseID]) ?? 0
        for photo in photos {
            number += 1
            try db.execute(
                sql: "INSERT INTO evidence (case_id, number, file, content_type) VALUES (?, ?, ?, ?)",
                arguments: [caseID, number, photo.file, photo.contentType]
            )
        }
        try db.execute(sql: "UPDATE cases SET photos = ? WHERE id = ?", arguments: [number, caseID])
    }
}

extension Store {
    /// The files of every stored photo (retention removes files in `evidence/` that no photo names: an import that
    /// did not commit, a process that was killed).
    public func evidenceFiles() throws -> Set<String> {
        Set(try read { try Evidence.allFiles($0) })
    }

    /// The files of every statement's attachments (retention removes files in `statements/` that no statement names:
    /// an upload that broke off or was refused while the server was killed).
    public func statementFiles() throws -> Set<String> {
        Set(try read { try Statements.allAttachments($0) })
    }

    /// Photo `number` of a case (nil: none, or erased).
    public func photo(caseID: Int64, number: Int) async throws -> EvidenceRecord? {
        try await pool.read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT file, content_type FROM evidence WHERE case_id = ? AND number = ?",
                arguments: [caseID, number]
            ).map { row in EvidenceRecord(caseID: caseID, number: number, file: row["file"], contentType: row["content_type"]) }
        }
    }
}
