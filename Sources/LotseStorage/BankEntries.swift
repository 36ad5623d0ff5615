import GRDB

/// The keys by which bank bookings already read are known again (table `bank_entries`): an entry's bank
/// reference, a transaction's bank reference or end-to-end id, and what a transaction says (see the
/// reconciler's `BookingIdentity`). Every function runs inside the caller's write transaction.
public enum BankEntries {
    /// Whether `key` was recorded as a bank entry key (or, with `orPayment`, as the key of a payment).
    public static func isKnown(_ db: Database, key: String, orPayment: Bool = false) throws -> Bool {
        if try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM bank_entries WHERE key = ?"), arguments: [key]) ?? false {
            return true
        }
        return try orPayment && Ledger.isKnown(db, dedupKey: key)
    }

    /// Records `key` (nothing happens when it is there already).
    public static func add(_ db: Database, key: String, file: String, now: Int64) throws {
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO bank_entries (key, file_name, imported_at) VALUES (?, ?, ?)")
            .execute(arguments: [key, file, now])
    }

    /// The keys that start with `prefix`, in order (a range of the primary key).
    public static func keys(_ db: Database, prefix: String) throws -> [String] {
        try String.fetchAll(
            db.cachedStatement(sql: "SELECT key FROM bank_entries WHERE key >= ? AND key < ? ORDER BY key"),
            arguments: [prefix, prefix + "\u{10FFFF}"]
        )
    }

    /// Whether any of `keys` was recorded as a bank entry key, or any of `paymentKeys` as the key of a payment:
    /// one statement per table (the per-transaction path of a bank file, instead of one lookup per key).
    public static func anyKnown(_ db: Database, keys: [String], paymentKeys: [String]) throws -> Bool {
        if !keys.isEmpty,
            try Bool.fetchOne(
                db.cachedStatement(sql: "SELECT 1 FROM bank_entries WHERE key IN (\(marks(keys.count))) LIMIT 1"),
                arguments: StatementArguments(keys)
            ) ?? false
        {
            return true
        }
        guard !paymentKeys.isEmpty else { return false }
        return try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT 1 FROM payments WHERE dedup_key IN (\(marks(paymentKeys.count))) LIMIT 1"),
            arguments: StatementArguments(paymentKeys)
        ) ?? false
    }

    /// Records `keys` in one statement (those there already are left as they are).
    public static func add(_ db: Database, keys: [String], file: String, now: Int64) throws {
        guard !keys.isEmpty else { return }
        var values: [any DatabaseValueConvertible] = []
        values.reserveCapacity(keys.count * 3)
        for key in keys {
            values.append(key)
            values.append(file)
            values.append(now)
        }
        let rows =
            keys.count == 1
            ? "(?, ?, ?)"
            : keys.count == 2
                ? "(?, ?, ?), (?, ?, ?)"
                : keys.count == 3
                    ? "(?, ?, ?), (?, ?, ?), (?, ?, ?)"
                    : Array(repeating: "(?, ?, ?)", count: keys.count).joined(separator: ", ")
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO bank_entries (key, file_name, imported_at) VALUES " + rows)
            .execute(arguments: StatementArguments(values))
    }

    private static func marks(_ n: Int) -> String {
        n == 1 ? "?" : n == 2 ? "?, ?" : n == 3 ? "?, ?, ?" : Array(repeating: "?", count: n).joined(separator: ", ")
    }

    /// Gives a recorded key a new text (a content row that learned more of its booking's ids).
    public static func rename(_ db: Database, key: String, to newKey: String) throws {
        try db.cachedStatement(sql: "UPDATE bank_entries SET key = ? WHERE key = ?").execute(arguments: [newKey, key])
    }
}
