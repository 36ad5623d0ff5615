import GRDB
import LotseCore

/// The write transaction of one reconciled bank file: what the reconciler may do inside it, by name. Valid only
/// inside the closure of `Store.bankTransaction`; never kept.
public final class BankTransaction {
    private let db: Database

    init(db: Database) { self.db = db }

    /// Whether a bank booking is already known by this key (see `BankEntries`).
    public func isKnown(key: String) throws -> Bool {
        try BankEntries.isKnown(db, key: key)
    }

    /// Whether any of `keys` is known as a bank entry, or any of `paymentKeys` as a payment's key.
    public func anyKnown(keys: [String], paymentKeys: [String]) throws -> Bool {
        try BankEntries.anyKnown(db, keys: keys, paymentKeys: paymentKeys)
    }

    /// The content rows starting with `prefix`.
    public func keys(prefix: String) throws -> [String] {
        try BankEntries.keys(db, prefix: prefix)
    }

    /// Records that a booking is known by `key`.
    public func add(key: String, file: String, now: Int64) throws {
        try BankEntries.add(db, key: key, file: file, now: now)
    }

    /// Records that a booking is known by each of `keys`, in one statement.
    public func add(keys: [String], file: String, now: Int64) throws {
        try BankEntries.add(db, keys: keys, file: file, now: now)
    }

    /// Gives a content row the new text that carries every id its booking has been seen with.
    public func rename(key: String, to newKey: String) throws {
        try BankEntries.rename(db, key: key, to: newKey)
    }

    /// Records a payment and applies it to `caseID` (see `Ledger.record`).
    public func recordPayment(_ payment: IncomingPayment, caseID: Int64?, rejected: Bool = false, now: Int64) throws -> Ledger.Outcome {
        try Ledger.record(db, payment, caseID: caseID, rejected: rejected, now: now)
    }

    /// The case-number prefixes in use (e.g. `KL`), for finding case numbers in free text.
    public func caseNumberPrefixes() throws -> [String] {
        try CaseQueries.prefixes(db)
    }

    /// The enrolled handhelds' device ids with their letters and digits (for ticket references: formats §2b).
    public func enrolledDevices() throws -> [(deviceID: String, compact: String)] {
        try String.fetchAll(db, sql: "SELECT DISTINCT device_id FROM devices").map { ($0, CaseNumber.compact($0)) }
    }

    /// The imported case of a ticket: its device id as enrolled and the ticket number's value.
    public func caseID(ticket: TicketReference) throws -> Int64? {
        try Devices.caseID(db, ticket: ticket)
    }

    /// The id of the case whose number, compacted to letters and digits, is `compact`.
    public func caseID(compact: String) throws -> Int64? {
        try CaseQueries.idByCompact(db, compact)
    }
}

extension Store {
    /// Reconciles one bank file in one immediate write transaction, committed when `body` returns: a thrown error
    /// leaves the database as it was before the file. A database error becomes the one-line error naming `file`.
    /// A big file touches many pages of the case index: the connection keeps them in memory meanwhile.
    public func bankTransaction<T>(file: String, _ body: (BankTransaction) throws -> T) throws -> T {
        do {
            return try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA cache_size = -98304")
                defer { try? db.execute(sql: "PRAGMA cache_size = -2000") }
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(BankTransaction(db: db))
                    return .commit
                }
                return result!
            }
        } catch let error as DatabaseError {
            throw failure(error, file: file)
        }
    }
}
