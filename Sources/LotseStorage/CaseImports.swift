import GRDB
import LotseCore

/// The write transaction of one imported file (handheld export or payments file): what an importer may do
/// inside it, by name. Valid only inside the closure of `Store.importTransaction`; never kept.
public final class ImportTransaction {
    let db: Database

    init(db: Database) { self.db = db }

    /// Starts writing cases: records the import and keeps the offence table in step with the catalogue.
    public func caseWriter(
        fileName: String,
        format: String,
        catalogue: Catalogue,
        prefix: String,
        paymentDays: Int,
        now: Int64
    ) throws -> CaseWriter {
        try CaseWriter(
            db: db,
            fileName: fileName,
            format: format,
            catalogue: catalogue,
            prefix: prefix,
            paymentDays: paymentDays,
            now: now
        )
    }

    /// The id of the case with this number (typed with or without separators, in any case).
    public func caseID(number: String) throws -> Int64? {
        try CaseQueries.byNumber(db, number)?.id
    }

    /// Records a payment and applies it to `caseID` (see `Ledger.record`).
    public func recordPayment(_ payment: IncomingPayment, caseID: Int64?, now: Int64) throws -> Ledger.Outcome {
        try Ledger.record(db, payment, caseID: caseID, now: now)
    }
}

extension Store {
    /// Runs the import of one file in one immediate write transaction, committed when `body` returns: a crash or a
    /// thrown error leaves the database as it was before the file. A database error becomes the one-line error
    /// naming `file` (or the lock of another process).
    public func importTransaction<T>(file: String, _ body: (ImportTransaction) throws -> T) throws -> T {
        do {
            return try pool.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(ImportTransaction(db: db))
                    return .commit
                }
                return result!
            }
        } catch let error as DatabaseError {
            throw failure(error, file: file)
        }
    }
}
