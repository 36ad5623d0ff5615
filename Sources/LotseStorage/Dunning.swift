import GRDB
import LotseCore

/// A case listed for a reminder: the columns of the reminder list.
public struct DueCase: Sendable {
    public var caseNumber: String
    public var ticketNo: String?
    public var plate: String
    public var issuedAt: Int64
    public var tbnr: String
    public var amountCents: Int
    public var deadline: String
}

extension Store {
    /// The unfinished provider orders (PayPal orders, e-payment transactions) of the cases a dunning run with
    /// `remindBefore` would list, and which of those cases were held back by a run before (`reminder_held`): what the
    /// reminder guard asks the providers about.
    public func ordersOfDueCases(remindBefore: CivilDate) async throws -> (orders: [ProviderOrder], heldBefore: Set<Int64>) {
        try await pool.read { db in
            let ids = try Int64.fetchAll(
                db,
                sql: """
                    SELECT DISTINCT c.id FROM cases c JOIN provider_orders o ON o.case_id = c.id
                    WHERE c.status IN ('open', 'overdue') AND c.deadline < ? AND o.status IN ('created', 'approved', 'pending')
                    """,
                arguments: [remindBefore.description]
            )
            let orders = try ProviderOrders.unfinished(db, caseIDs: ids)
            let held = try Int64.fetchAll(
                db,
                sql: "SELECT DISTINCT case_id FROM events WHERE kind = 'reminder_held' AND case_id IN (SELECT value FROM json_each(?))",
                arguments: ["[" + ids.map(String.init).joined(separator: ",") + "]"]
            )
            return (orders, Set(held))
        }
    }

    /// Case numbers by id (for the dunning run's output).
    public func caseNumbers(ids: [Int64]) async throws -> [Int64: String] {
        try await pool.read { db in
            var found: [Int64: String] = [:]
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT id, case_number FROM cases WHERE id IN (SELECT value FROM json_each(?))",
                arguments: ["[" + ids.map(String.init).joined(separator: ",") + "]"]
            )
            for row in rows { found[row[0]] = row[1] }
            return found
        }
    }

    /// The dunning run's write transaction (immediate). First every case still unpaid (open or overdue) whose deadline
    /// is before `remindBefore` is passed to `eachReminder`, in id order (a cursor: up to every case of a year, never
    /// held in memory), and then gets a `reminder` event (detail `runDay`) and the status `reminded`; then every open
    /// case whose deadline is before `overdueBefore` gets an `overdue` event and the status `overdue`. `beforeCommit`
    /// runs last: if it throws, everything rolls back. Returns the number of cases newly overdue. A database error
    /// becomes the one-line error naming `file`.
    ///
    /// `holdBack`: cases with a payment in flight (the reminder guard, `ReminderGuard`): not listed this run; each gets a
    /// `reminder_held` event (detail `runDay`) instead, so that the next run lists it if it is still unpaid.
    public func dunningRun(
        remindBefore: CivilDate,
        overdueBefore: CivilDate,
        runDay: CivilDate,
        at: Int64,
        file: String,
        holdBack: Set<Int64> = [],
        eachReminder: (DueCase) throws -> Void,
        beforeCommit: () throws -> Void
    ) throws -> Int {
        let remindBefore = remindBefore.description
        let overdueBefore = overdueBefore.description
        // the held-back case ids as one JSON array argument (`json_each`): one statement whatever their number
        let held = "[" + holdBack.sorted().map(String.init).joined(separator: ",") + "]"
        do {
            return try pool.writeWithoutTransaction { db in
                var overdue = 0
                try db.inTransaction(.immediate) {
                    // Reminders first: their cases then no longer count as merely overdue.
                    let statement = try db.makeStatement(
                        sql: """
                            SELECT case_number, ticket_no, plate, issued_at, tbnr, amount_cents, deadline FROM cases
                            WHERE status IN ('open', 'overdue') AND deadline < ? AND \(ProvisionalCases.isNotProvisional)
                            AND id NOT IN (SELECT value FROM json_each(?)) AND \(Statements.noPendingStatement) ORDER BY id
                            """
                    )
                    statement.arguments = [remindBefore, held]
                    let rows = try Row.fetchCursor(statement)
                    while let row = try rows.next() {
                        // columns by position: this loop runs once per case due
                        try eachReminder(
                            DueCase(
                                caseNumber: row[0],
                                ticketNo: row[1],
                                plate: row[2],
                                issuedAt: row[3],
                                tbnr: row[4],
                                amountCents: row[5],
                                deadline: row[6]
                            )
                        )
                    }
                    try db.execute(
                        sql: """
                            INSERT INTO events (case_id, kind, at, detail)
                            SELECT id, 'reminder_held', ?, ? FROM cases WHERE id IN (SELECT value FROM json_each(?))
                                AND status IN ('open', 'overdue') AND deadline < ?;
                            INSERT INTO events (case_id, kind, at, detail)
                            SELECT id, 'reminder', ?, ? FROM cases WHERE status IN ('open', 'overdue') AND deadline < ? AND \(ProvisionalCases.isNotProvisional)
                                AND id NOT IN (SELECT value FROM json_each(?)) AND \(Statements.noPendingStatement);
                            UPDATE cases SET status = 'reminded', reminded_at = coalesce(reminded_at, ?)
                            WHERE status IN ('open', 'overdue') AND deadline < ? AND \(ProvisionalCases.isNotProvisional)
                                AND id NOT IN (SELECT value FROM json_each(?)) AND \(Statements.noPendingStatement);
                            """,
                        arguments: [
                            at, runDay.description, held, remindBefore, at, runDay.description, remindBefore, held, at, remindBefore, held,
                        ]
                    )
                    try db.execute(
                        sql: """
                            INSERT INTO events (case_id, kind, at) SELECT id, 'overdue', ? FROM cases WHERE status = 'open' AND deadline < ? AND \(ProvisionalCases.isNotProvisional);
                            UPDATE cases SET status = 'overdue' WHERE status = 'open' AND deadline < ? AND \(ProvisionalCases.isNotProvisional);
                            """,
                        arguments: [at, overdueBefore, overdueBefore]
                    )
                    overdue = db.changesCount
                    try Operations.noteRun(db, job: .dunning, at: at, detail: runDay.description)
                    try beforeCommit()
                    return .commit
                }
                return overdue
            }
        } catch let error as DatabaseError {
            throw failure(error, file: file)
        }
    }
}
