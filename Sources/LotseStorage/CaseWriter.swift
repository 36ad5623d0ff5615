import GRDB
import GRDBSQLite
import LotseCore

/// Inserts validated tickets as cases inside one write transaction (one import file).
/// A ticket whose source id exists already is a duplicate; case numbers are only drawn for new cases.
/// A ticket paid before its export arrived has a provisional case (`ProvisionalCases`): the ticket of the export
/// completes that case (the export's fields win) instead of becoming a second one.
public final class CaseWriter {
    let db: Database
    let insert: Statement
    let prefix: String
    let paymentDays: Int
    /// nil for a provisional case (no import).
    let importID: Int64?
    let now: Int64
    var counters: [Int: Int] = [:]
    /// Deadlines whose end (in UTC) is already in `deadline_ends`.
    var knownDeadlines: Set<CivilDate> = []
    /// `yyyy-mm-dd` of the few dates an export spans, formatted once.
    var dateTexts: [CivilDate: String] = [:]
    /// The provisional cases waiting for their ticket, by device and ticket number (almost always none).
    var provisional: [TicketKey: ProvisionalCases.Waiting] = [:]

    public enum Result { case inserted, duplicate }

    /// Starts an import: records it and keeps the offence table in step with the catalogue.
    public convenience init(
        db: Database,
        fileName: String,
        format: String,
        catalogue: Catalogue,
        prefix: String,
        paymentDays: Int,
        now: Int64
    ) throws {
        try db.execute(
            sql: "INSERT INTO imports (file_name, format, imported_at) VALUES (?, ?, ?)",
            arguments: [fileName, format, now]
        )
        try self.init(
            db: db,
            offences: Array(catalogue.offences.values),
            prefix: prefix,
            paymentDays: paymentDays,
            importID: db.lastInsertedRowID,
            now: now
        )
        provisional = try ProvisionalCases.waiting(db)
    }

    /// A writer of cases; `importID` nil writes provisional cases.
    init(db: Database, offences: [Offence], prefix: String, paymentDays: Int, importID: Int64?, now: Int64) throws {
        self.db = db
        // A large page cache for the bulk insert of an import: index pages stay in memory instead of spilling
        // to the WAL again and again (reset in `finish`). A provisional case is one row.
        if importID != nil { try db.execute(sql: "PRAGMA cache_size = -131072") }
        self.prefix = prefix
        self.paymentDays = paymentDays
        self.importID = importID
        self.now = now
        let upsert = try db.makeStatement(
            sql: """
                INSERT INTO offences (tbnr, text_de, amount_cents, points) VALUES (?, ?, ?, ?)
                ON CONFLICT(tbnr) DO UPDATE SET text_de = excluded.text_de, amount_cents = excluded.amount_cents,
                points = excluded.points
                """
        )
        for o in offences {
            try upsert.execute(arguments: [o.tbnr, o.textDE, o.amountCents, o.points])
        }
        insert = try db.makeStatement(
            sql: """
                INSERT INTO cases (case_number, source_id, ticket_no, device_id, officer_id, issued_at, plate,
                    plate_country, tbnr, amount_cents, street, house_no, place_note, zip, city, lat, lon, qr_printed,
                    vehicle_make, vehicle_color, deadline, import_id, created_at, issued_day)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(source_id) DO NOTHING
                """
        )
    }

    func nextSequence(year: Int) throws -> Int {
        if let n = counters[year] { return n + 1 }
        let last = try Int.fetchOne(db, sql: "SELECT last FROM case_counters WHERE year = ?", arguments: [year]) ?? 0
        counters[year] = last
        return last + 1
    }

    public func add(_ t: Ticket) throws -> Result {
        if !provisional.isEmpty, let key = TicketKey(deviceID: t.deviceID, ticketNo: t.ticketNo),
            let waiting = provisional.removeValue(forKey: key)
        {
            try ProvisionalCases.complete(db, waiting, with: t, deadline: deadlineText(t), importID: importID, now: now)
            return .inserted
        }
        let year = t.localDate.year
        let seq = try nextSequence(year: year)
        // Bound straight through the C API: this is the hot loop of a million-row import.
        let st = insert.sqliteStatement
        sqlite3_reset(st)
        bind(st, 1, CaseNumber.make(prefix: prefix, year: year, sequence: seq))
        bind(st, 2, t.sourceID)
        bind(st, 3, t.ticketNo)
        bind(st, 4, t.deviceID)
        bind(st, 5, t.officerID)
        sqlite3_bind_int64(st, 6, t.issuedAt)
        bind(st, 7, t.plate)
        bind(st, 8, t.plateCountry)
        bind(st, 9, t.tbnr)
        sqlite3_bind_int64(st, 10, Int64(t.amountCents))
        bind(st, 11, t.street)
        bind(st, 12, t.houseNo)
        bind(st, 13, t.placeNote)
        bind(st, 14, t.zip)
        bind(st, 15, t.city)
        bind(st, 16, t.lat)
        bind(st, 17, t.lon)
        sqlite3_bind_int64(st, 18, t.qrPrinted ? 1 : 0)
        let deadline = try deadlineText(t)
        bind(st, 19, t.vehicleMake)
        bind(st, 20, t.vehicleColor)
        bind(st, 21, deadline)
        if let importID { sqlite3_bind_int64(st, 22, importID) } else { sqlite3_bind_null(st, 22) }
        sqlite3_bind_int64(st, 23, now)
        bind(st, 24, text(t.localDate))
        let rc = sqlite3_step(st)
        guard rc == SQLITE_DONE else {
            let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
            sqlite3_reset(st)
            throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: message)
        }
        guard sqlite3_changes(db.sqliteConnection) > 0 else { return .duplicate }
        counters[year] = seq
        return .inserted
    }

    /// The ticket's deadline as stored, its end noted in `deadline_ends` once per date.
    func deadlineText(_ t: Ticket) throws -> String {
        let deadline = t.deadline(paymentDays: paymentDays)
        if !knownDeadlines.contains(deadline) {
            try Schema.noteDeadline(db, deadline)
            knownDeadlines.insert(deadline)
        }
        return text(deadline)
    }

    /// `yyyy-mm-dd`, formatted once per date.
    func text(_ d: CivilDate) -> String {
        if let s = dateTexts[d] { return s }
        let s = d.description
        dateTexts[d] = s
        return s
    }

    @inline(__always) func bind(_ st: OpaquePointer, _ i: Int32, _ s: String?) {
        sqliteBind(st, i, s)
    }

    @inline(__always) func bind(_ st: OpaquePointer, _ i: Int32, _ d: Double?) {
        if let d { sqlite3_bind_double(st, i, d) } else { sqlite3_bind_null(st, i) }
    }

    /// Ends the import: counters and the import's summary. (A case's `imported` event is its row: see `case_events`.)
    public func finish(imported: Int, duplicates: Int, rejected: Int, rejectsFile: String?) throws {
        for (year, last) in counters {
            try db.execute(
                sql: """
                    INSERT INTO case_counters (year, last) VALUES (?, ?)
                    ON CONFLICT(year) DO UPDATE SET last = excluded.last
                    """,
                arguments: [year, last]
            )
        }
        guard let importID else { return }
        try db.execute(sql: "PRAGMA cache_size = \(Store.cacheSize)")
        try db.execute(
            sql: "UPDATE imports SET imported = ?, duplicates = ?, rejected = ?, rejects_file = ? WHERE id = ?",
            arguments: [imported, duplicates, rejected, rejectsFile, importID]
        )
        // payments made before their ticket arrived now close its case
        if imported > 0 { _ = try Devices.applyWaitingPayments(db) }
        try Operations.noteRun(db, job: .import, at: now)
    }
}

/// SQLite's SQLITE_TRANSIENT (a macro Swift cannot import): SQLite copies the bound bytes.
let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// Binds a text (or NULL) to parameter `i` of a prepared statement, through SQLite's C interface.
@inline(__always) func sqliteBind(_ st: OpaquePointer, _ i: Int32, _ s: String?) {
    guard var s else {
        sqlite3_bind_null(st, i)
        return
    }
    s.withUTF8 { p in
        _ = sqlite3_bind_text(st, i, UnsafeRawPointer(p.baseAddress!).assumingMemoryBound(to: CChar.self), Int32(p.count), sqliteTransient)
    }
}
