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
    /// The dunning run's write transaction (immediate). First every case still unpaid (open or overdue) whose deadline
    /// is before `remindBefore` is passed to `eachReminder`, in id order (a cursor: up to every case of a year, never
    /// held in memory), and then gets a `reminder` event (detail `runDay`) and the status `reminded`; then every open
    /// case whose deadline is before `overdueBefore` gets an `overdue` event and the status `overdue`. `beforeCommit`
    /// runs last: if it throws, everything rolls back. Returns the number of cases newly overdue. A database error
    /// becomes the one-line error naming `file`.
    public func dunningRun(
        remindBefore: CivilDate,
        overdueBefore: CivilDate,
        runDay: CivilDate,
        at: Int64,
        file: String,
        eachReminder: (DueCase) throws -> Void,
        beforeCommit: () throws -> Void
    ) throws -> Int {
        let remindBefore = remindBefore.description
        let overdueBefore = overdueBefore.description
        do {
            return try pool.writeWithoutTransaction { db in
                var overdue = 0
                try db.inTransaction(.immediate) {
                    // Reminders first: their cases then no longer count as merely overdue.
                    let statement = try db.makeStatement(
                        sql: """
                            SELECT case_number, ticket_no, plate, issued_at, tbnr, amount_cents, deadline FROM cases
                            WHERE status IN ('open', 'overdue') AND deadline < ? AND \(ProvisionalCases.isNotProvisional) ORDER BY id
                            """
                    )
                    statement.arguments = [remindBefore]
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
                            SELECT id, 'reminder', ?, ? FROM cases WHERE status IN ('open', 'overdue') AND deadline < ? AND \(ProvisionalCases.isNotProvisional);
                            UPDATE cases SET status = 'reminded', reminded_at = coalesce(reminded_at, ?)
                            WHERE status IN ('open', 'overdue') AND deadline < ? AND \(ProvisionalCases.isNotProvisional);
                            """,
                        arguments: [at, runDay.description, remindBefore, at, remindBefore]
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
