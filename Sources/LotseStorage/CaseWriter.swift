import GRDB
import LotseCore

/// Inserts validated tickets as cases inside one write transaction (one import file).
/// A ticket whose source id exists already is a duplicate; case numbers are only drawn for new cases.
public final class CaseWriter {
    let db: Database
    let insert: Statement
    let prefix: String
    let paymentDays: Int
    let importID: Int64
    let firstNewID: Int64
    let now: Int64
    var counters: [Int: Int] = [:]

    public enum Result { case inserted(caseNumber: String), duplicate }

    /// Starts an import: records it and keeps the offence table in step with the catalogue.
    public init(db: Database, fileName: String, format: String, catalogue: Catalogue,
                prefix: String, paymentDays: Int, now: Int64) throws {
        self.db = db
        self.prefix = prefix
        self.paymentDays = paymentDays
        self.now = now
        let upsert = try db.makeStatement(sql: """
            INSERT INTO offences (tbnr, text_de, amount_cents, points) VALUES (?, ?, ?, ?)
            ON CONFLICT(tbnr) DO UPDATE SET text_de = excluded.text_de, amount_cents = excluded.amount_cents,
            points = excluded.points
            """)
        for o in catalogue.offences.values {
            try upsert.execute(arguments: [o.tbnr, o.textDE, o.amountCents, o.points])
        }
        try db.execute(sql: "INSERT INTO imports (file_name, format, imported_at) VALUES (?, ?, ?)",
                       arguments: [fileName, format, now])
        importID = db.lastInsertedRowID
        firstNewID = (try Int64.fetchOne(db, sql: "SELECT max(id) FROM cases") ?? 0) + 1
        insert = try db.makeStatement(sql: """
            INSERT INTO cases (case_number, source_id, ticket_no, device_id, officer_id, issued_at, plate,
                plate_country, tbnr, amount_cents, street, house_no, place_note, zip, city, lat, lon, qr_printed,
                vehicle_make, vehicle_color, deadline, import_id, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(source_id) DO NOTHING
            """)
    }

    func nextSequence(year: Int) throws -> Int {
        if let n = counters[year] { return n + 1 }
        let last = try Int.fetchOne(db, sql: "SELECT last FROM case_counters WHERE year = ?", arguments: [year]) ?? 0
        counters[year] = last
        return last + 1
    }

    public func add(_ t: Ticket) throws -> Result {
        let year = BerlinTime.local(t.issuedAt).date.year
        let seq = try nextSequence(year: year)
        let number = CaseNumber.make(prefix: prefix, year: year, sequence: seq)
        let args: StatementArguments = [
            number, t.sourceID, t.ticketNo, t.deviceID, t.officerID, t.issuedAt, t.plate,
            t.plateCountry, t.tbnr, t.amountCents, t.street, t.houseNo, t.placeNote, t.zip, t.city, t.lat, t.lon,
            t.qrPrinted, t.vehicleMake, t.vehicleColor, t.deadline(paymentDays: paymentDays).description,
            importID, now,
        ]
        insert.setUncheckedArguments(args)
        try insert.execute()
        guard db.changesCount > 0 else { return .duplicate }
        counters[year] = seq
        return .inserted(caseNumber: number)
    }

    /// Ends the import: counters, the `imported` event of each new case, and the import's summary.
    public func finish(imported: Int, duplicates: Int, rejected: Int, rejectsFile: String?) throws {
        for (year, last) in counters {
            try db.execute(sql: """
                INSERT INTO case_counters (year, last) VALUES (?, ?)
                ON CONFLICT(year) DO UPDATE SET last = excluded.last
                """, arguments: [year, last])
        }
        try db.execute(sql: """
            INSERT INTO events (case_id, kind, at, detail)
            SELECT id, 'imported', created_at, NULL FROM cases WHERE id >= ? AND import_id = ?
            """, arguments: [firstNewID, importID])
        try db.execute(sql: "UPDATE imports SET imported = ?, duplicates = ?, rejected = ?, rejects_file = ? WHERE id = ?",
                       arguments: [imported, duplicates, rejected, rejectsFile, importID])
    }
}
