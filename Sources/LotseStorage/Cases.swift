import GRDB
import GRDBSQLite
import LotseCore

/// A case as stored.
public struct CaseRecord: Sendable, Equatable, FetchableRecord {
    public var id: Int64
    public var caseNumber: String
    public var sourceID: String
    public var ticketNo: String?
    public var deviceID: String?
    public var officerID: String?
    public var issuedAt: Int64
    public var plate: String
    public var plateCountry: String
    public var tbnr: String
    public var offenceText: String
    public var amountCents: Int
    public var street: String
    public var houseNo: String?
    public var placeNote: String?
    public var zip: String?
    public var city: String
    public var qrPrinted: Bool
    public var deadline: String
    public var status: CaseStatus
    public var qrWrittenAt: Int64?
    public var paidAt: Int64?
    public var paidChannel: PaymentChannel?
    /// When its personal data was erased after the retention period (nil: not erased).
    public var erasedAt: Int64?
    /// Received so far in partial payments (0 when none).
    public var receivedCents: Int
    /// When the reminder was sent (nil: none).
    public var remindedAt: Int64?
    /// How many photos of the warden the case has (`Evidence`).
    public var photos: Int

    /// What the motorist still has to pay: the amount less what partial payments brought.
    public var dueCents: Int { max(0, amountCents - receivedCents) }

    /// From a row of `CaseQueries.select` (the columns of `CaseRecord.columns`), by position: no lookups by column
    /// name. A status or channel this version does not know is an error, not a default.
    public init(row: Row) throws {
        id = row[0]
        caseNumber = row[1]
        sourceID = row[2]
        ticketNo = row[3]
        deviceID = row[4]
        officerID = row[5]
        issuedAt = row[6]
        plate = row[7]
        plateCountry = row[8]
        tbnr = row[9]
        offenceText = row[10] ?? ""
        amountCents = row[11]
        street = row[12]
        houseNo = row[13]
        placeNote = row[14]
        zip = row[15]
        city = row[16]
        qrPrinted = row[17]
        deadline = row[18]
        status = try Vocabulary.decode(row[19] as String, column: "cases.status")
        qrWrittenAt = row[20]
        paidAt = row[21]
        paidChannel = try Vocabulary.decode(row[22] as String?, column: "cases.paid_channel")
        erasedAt = row[23]
        receivedCents = row[24]
        remindedAt = row[25]
        photos = row[26]
    }

    /// The columns a case is read with, in the order `init(row:)` reads them: the one description of the row for
    /// every reader (the offence text comes from the catalogue's table).
    static let columns = [
        "cases.id", "cases.case_number", "cases.source_id", "cases.ticket_no", "cases.device_id", "cases.officer_id",
        "cases.issued_at", "cases.plate", "cases.plate_country", "cases.tbnr", "offences.text_de", "cases.amount_cents",
        "cases.street", "cases.house_no", "cases.place_note", "cases.zip", "cases.city", "cases.qr_printed", "cases.deadline",
        "cases.status", "cases.qr_written_at", "cases.paid_at", "cases.paid_channel", "cases.erased_at",
        "cases.received_cents", "cases.reminded_at", "cases.photos",
    ]

    /// Opened from a ticket token before the export arrived (`ProvisionalCases`): no plate or place yet.
    public var isProvisional: Bool { sourceID.hasPrefix(ProvisionalCases.sourcePrefix) }

    /// Street with number, place note, zip and city on one line.
    public var place: String {
        var s = street
        if let h = houseNo { s += " " + h }
        if let n = placeNote { s += ", " + n }
        s += ", " + ((zip.map { $0 + " " }) ?? "") + city
        return s
    }
}

public struct EventRecord: Sendable, Equatable, FetchableRecord {
    public var kind: EventKind
    public var at: Int64
    public var detail: String?
    public init(row: Row) throws {
        kind = try Vocabulary.decode(row["kind"] as String, column: "events.kind")
        at = row["at"]
        detail = row["detail"]
    }
}

/// Queries on cases and their events.
public enum CaseQueries {
    /// Cases with their offence text, as `CaseRecord(row:)` reads them.
    static let select = "SELECT " + CaseRecord.columns.joined(separator: ", ") + " FROM cases LEFT JOIN offences USING (tbnr)"

    public static func byID(_ db: Database, _ id: Int64) throws -> CaseRecord? {
        // the case page's query: prepared once per connection, columns read by position from the statement itself
        // (`Row.fetchOne` would first copy the row with its 27 column names)
        let statement = try db.cachedStatement(sql: select + " WHERE cases.id = ?")
        // (the row is valid while its cursor lives: the cursor's end resets the statement)
        let cursor = try Row.fetchCursor(statement, arguments: [id])
        return try withExtendedLifetime(cursor) { try cursor.next().map { try CaseRecord(row: $0) } }
    }

    public static func byNumber(_ db: Database, _ number: String) throws -> CaseRecord? {
        if let c = try CaseRecord.fetchOne(db, sql: select + " WHERE case_number = ?", arguments: [number]) { return c }
        // typed without separators or in lower case
        return try lookup(db, compact: CaseNumber.compact(number))
    }

    /// The case whose number has these letters and digits (`CaseNumber.compact` of what was typed): the number put
    /// back in its stored form (`CaseNumber.expand`), then one search of the unique index on `case_number`, the same
    /// work whether a case is found or not. (Migration v22 dropped the index on the numbers' letters and digits this
    /// needed before: it cost every import a fifth index.)
    public static func lookup(_ db: Database, compact: String) throws -> CaseRecord? {
        guard let number = CaseNumber.expand(compact) else { return nil }
        return try CaseRecord.fetchOne(db.cachedStatement(sql: select + " WHERE case_number = ?"), arguments: [number])
    }

    /// The case's history: `imported` (from the case row), then its events in time order.
    public static func events(_ db: Database, caseID: Int64) throws -> [EventRecord] {
        try EventRecord.fetchAll(
            db,
            sql: "SELECT kind, at, detail FROM case_events WHERE case_id = ? ORDER BY at, seq",
            arguments: [caseID]
        )
    }

    public static func addEvent(_ db: Database, caseID: Int64, kind: EventKind, at: Int64, detail: String? = nil) throws {
        try db.cachedStatement(sql: "INSERT INTO events (case_id, kind, at, detail) VALUES (?, ?, ?, ?)")
            .execute(arguments: [caseID, kind.rawValue, at, detail])
    }

    /// Adds many events with one prepared statement, bound through SQLite's C interface (the page-view
    /// batches: GRDB's per-row argument handling cost more than the insert itself).
    public static func addEvents(_ db: Database, _ events: [NewEvent]) throws {
        let statement = try db.cachedStatement(sql: "INSERT INTO events (case_id, kind, at, detail) VALUES (?, ?, ?, ?)")
        let st = statement.sqliteStatement
        defer {
            sqlite3_reset(st)
            sqlite3_clear_bindings(st)
        }
        for e in events {
            sqlite3_reset(st)
            sqlite3_bind_int64(st, 1, e.caseID)
            sqliteBind(st, 2, e.kind.rawValue)
            sqlite3_bind_int64(st, 3, e.at)
            sqliteBind(st, 4, e.detail)
            let rc = sqlite3_step(st)
            guard rc == SQLITE_DONE else {
                throw DatabaseError(
                    resultCode: ResultCode(rawValue: rc),
                    message: String(cString: sqlite3_errmsg(db.sqliteConnection)),
                    sql: statement.sql
                )
            }
        }
    }

    /// The case whose number has these letters and digits (`KL20260001234` → `KL-2026-0001234`).
    public static func idByCompact(_ db: Database, _ compact: String) throws -> Int64? {
        guard let number = CaseNumber.expand(compact) else { return nil }
        return try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM cases WHERE case_number = ?"), arguments: [number])
    }

    /// The distinct case-number prefixes in use (a loose scan of the unique index: one probe per prefix).
    public static func prefixes(_ db: Database) throws -> [String] {
        var out: [String] = []
        var after = ""
        while let n = try String.fetchOne(
            db,
            sql: "SELECT case_number FROM cases WHERE case_number >= ? ORDER BY case_number LIMIT 1",
            arguments: [after]
        ) {
            guard let dash = n.firstIndex(of: "-") else {
                after = n + "\u{0}"
                continue
            }
            let p = String(n[..<dash])
            out.append(p)
            after = p + "."
        }
        return out
    }

    /// Cases whose QR code has not been written yet, in case-number order.
    public static func withoutQR(_ db: Database) throws -> [CaseRecord] {
        // a provisional case (paid before its export arrived) has its code on the ticket already
        try CaseRecord.fetchAll(
            db,
            sql: select + " WHERE qr_written_at IS NULL AND status != 'cancelled' AND \(ProvisionalCases.isNotProvisional) ORDER BY cases.id"
        )
    }

    public static func count(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM cases") ?? 0
    }
}

/// An event to add (`CaseQueries.addEvents`).
public struct NewEvent: Sendable {
    public var caseID: Int64
    public var kind: EventKind
    public var at: Int64
    public var detail: String?

    public init(caseID: Int64, kind: EventKind, at: Int64, detail: String?) {
        self.caseID = caseID
        self.kind = kind
        self.at = at
        self.detail = detail
    }
}

/// A case as printed on a label or a manifest: id, number, ticket number.
public struct CaseLabel: Sendable, Equatable {
    public var id: Int64
    public var caseNumber: String
    public var ticketNo: String?
    public var status: CaseStatus

    public init(id: Int64, caseNumber: String, ticketNo: String?, status: CaseStatus) {
        self.id = id
        self.caseNumber = caseNumber
        self.ticketNo = ticketNo
        self.status = status
    }
}

/// A case with its history, as the office sees it.
public struct CaseHistory: Sendable {
    public var record: CaseRecord
    public var events: [EventRecord]
    public var payments: [PaymentRecord]
}

extension Store {
    /// The case with this number (typed with or without separators, in any case).
    /// Every case in the order of its id (tests and small tools; a pilot's whole table is read at once).
    public func allCases() throws -> [CaseRecord] {
        try read { try CaseRecord.fetchAll($0, sql: CaseQueries.select + " ORDER BY cases.id") }
    }

    public func caseRecord(number: String) throws -> CaseRecord? {
        try read { try CaseQueries.byNumber($0, number) }
    }

    public func caseRecord(id: Int64) throws -> CaseRecord? {
        try read { try CaseQueries.byID($0, id) }
    }

    /// The case with this number, its events and its payments, read in one transaction.
    public func caseHistory(number: String) throws -> CaseHistory? {
        try read { db in
            guard let record = try CaseQueries.byNumber(db, number) else { return nil }
            return CaseHistory(
                record: record,
                events: try CaseQueries.events(db, caseID: record.id),
                payments: try Ledger.payments(db, caseID: record.id)
            )
        }
    }

    /// The ids of the cases made from these tickets (by source id, nil where there is none), in the same order.
    public func caseIDs(sourceIDs: [String]) throws -> [Int64?] {
        try read { db in
            let statement = try db.cachedStatement(sql: "SELECT id FROM cases WHERE source_id = ?")
            return try sourceIDs.map { try Int64.fetchOne(statement, arguments: [$0]) }
        }
    }

    /// Cases not cancelled, in id order: those whose QR code has not been written yet, or with `printedToo` all.
    public func casesForQR(printedToo: Bool) throws -> [CaseLabel] {
        let filter = printedToo ? "" : "qr_written_at IS NULL AND "
        return try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT id, case_number, ticket_no, status FROM cases
                    WHERE \(filter)status != 'cancelled' AND \(ProvisionalCases.isNotProvisional) ORDER BY id
                    """
            ).map { try Self.label($0) }
        }
    }

    /// The labels of the cases with these numbers, in the same order; an unknown number throws.
    public func caseLabels(numbers: [String]) throws -> [CaseLabel] {
        try read { db in
            try numbers.map { number in
                guard let c = try CaseQueries.byNumber(db, number) else { throw LotseError.input("case \(number) not found") }
                return CaseLabel(id: c.id, caseNumber: c.caseNumber, ticketNo: c.ticketNo, status: c.status)
            }
        }
    }

    /// Notes that the QR codes of these cases were written at `at` (a code written before keeps its time).
    public func markQRWritten(caseIDs: [Int64], at: Int64) throws {
        try write { db in
            let statement = try db.makeStatement(sql: "UPDATE cases SET qr_written_at = ? WHERE id = ? AND qr_written_at IS NULL")
            for id in caseIDs { try statement.execute(arguments: [at, id]) }
        }
    }

    /// The case with the smallest id among those with one of `statuses`.
    public func firstCase(statuses: [CaseStatus]) throws -> CaseLabel? {
        let marks = statuses.map { _ in "?" }.joined(separator: ", ")
        return try read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT id, case_number, ticket_no, status FROM cases WHERE status IN (\(marks)) ORDER BY id LIMIT 1",
                arguments: StatementArguments(statuses.map(\.rawValue))
            )
            .map { try Self.label($0) }
        }
    }

    /// One case of each state a visitor of the demo should see, the newest of each: open (its deadline still ahead),
    /// overdue, reminded, partly paid, paid, cancelled, handed over. States without a case are left out.
    public func demoShowcase() throws -> [(label: String, case: CaseLabel)] {
        let shown = "\(ProvisionalCases.isNotProvisional) AND erased_at IS NULL"
        let queries: [(String, String)] = [
            ("open", "status = 'open' AND \(shown) AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.case_id = cases.id)"),
            ("overdue", "status = 'overdue' AND \(shown)"),
            ("reminded", "status = 'reminded' AND \(shown) AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.case_id = cases.id)"),
            (
                "partly paid",
                "status IN ('open', 'overdue', 'reminded') AND \(shown) AND EXISTS (SELECT 1 FROM payments p WHERE p.case_id = cases.id AND p.disposition = 'partial')"
            ),
            ("paid", "status = 'paid' AND \(shown)"),
            ("cancelled", "status = 'cancelled' AND \(shown)"),
            ("handed over", "status = 'handed_over' AND \(shown)"),
        ]
        return try read { db in
            try queries.compactMap { label, filter in
                try Row.fetchOne(db, sql: "SELECT id, case_number, ticket_no, status FROM cases WHERE \(filter) ORDER BY id DESC LIMIT 1")
                    .map { (label, try Self.label($0)) }
            }
        }
    }

    /// Adds the event unless the case has one of that kind already (a note the office needs once, such as
    /// `ticket_differs`). Returns whether it was added.
    @discardableResult
    public func addEventOnce(caseID: Int64, kind: EventKind, at: Int64, detail: String?) async throws -> Bool {
        try await writeAsync { db in
            guard try Int.fetchOne(db, sql: "SELECT 1 FROM events WHERE case_id = ? AND kind = ? LIMIT 1", arguments: [caseID, kind.rawValue]) == nil
            else { return false }
            try CaseQueries.addEvent(db, caseID: caseID, kind: kind, at: at, detail: detail)
            return true
        }
    }

    /// Adds one event to a case, in its own write transaction.
    public func addEvent(caseID: Int64, kind: EventKind, at: Int64, detail: String? = nil) throws {
        try write { try CaseQueries.addEvent($0, caseID: caseID, kind: kind, at: at, detail: detail) }
    }

    /// Adds one event to a case, on GRDB's writer queue (for the server).
    public func addEvent(caseID: Int64, kind: EventKind, at: Int64, detail: String? = nil) async throws {
        try await pool.write { try CaseQueries.addEvent($0, caseID: caseID, kind: kind, at: at, detail: detail) }
    }

    static func label(_ row: Row) throws -> CaseLabel {
        let raw: String = row["status"]
        guard let status = CaseStatus(rawValue: raw) else { throw LotseError.io("a case has an unknown status '\(raw)'") }
        return CaseLabel(id: row["id"], caseNumber: row["case_number"], ticketNo: row["ticket_no"], status: status)
    }
}
