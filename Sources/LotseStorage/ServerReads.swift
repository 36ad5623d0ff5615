import GRDB
import LotseCore

/// What the server reads while it answers a request: each suspends the caller and runs on GRDB's reader threads,
/// never on an event loop (another process's write lock or a checkpoint's fsync waits there, not in the loop).
extension Store {
    /// Whether the database answers a read at all (`/healthz`).
    public func isReadable() async throws -> Bool {
        try await readAsync { try Int.fetchOne($0, sql: "SELECT 1") } == 1
    }

    /// The case with this id, read from the database (not the case cache): before acting on a payment.
    /// The case with this number (typed in any form), off the caller's thread.
    public func caseRecord(number: String) async throws -> CaseRecord? {
        try await pool.read { try CaseQueries.byNumber($0, number) }
    }

    public func caseRecord(id: Int64) async throws -> CaseRecord? {
        try await readAsync { try CaseQueries.byID($0, id) }
    }

    /// The case whose number, compacted to letters and digits, is `compact`: one index search, the same for hits
    /// and misses (the lookup form must not tell by its time whether a number exists).
    public func lookupCase(compact: String) async throws -> CaseRecord? {
        try await readAsync { try CaseQueries.lookup($0, compact: compact) }
    }

    /// The payments of one list of the office's work queue (`refund` lists the refunds still to make).
    public func paymentList(_ disposition: Disposition) async throws -> [PaymentRecord] {
        try await readAsync { db in
            disposition == .refund ? try Ledger.refunds(db) : try Ledger.list(db, disposition)
        }
    }

    /// The case a provider order belongs to.
    public func caseID(orderID: String) async throws -> Int64? {
        try await readAsync { try ProviderOrders.caseID($0, orderID: orderID) }
    }

    /// The newest provider capture booked for a case (what its receipt shows).
    public func latestCapture(caseID: Int64) async throws -> PaymentRecord? {
        try await readAsync { try ProviderOrders.latestCapture($0, caseID: caseID) }
    }
}
