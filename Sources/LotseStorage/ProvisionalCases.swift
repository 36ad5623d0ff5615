import GRDB
import LotseCore

/// A ticket named by its device and the value of its ticket number (`0004711` is 4711): how a ticket token, a
/// provisional case and the export's row of the same ticket find each other.
struct TicketKey: Hashable {
    var deviceID: String
    var number: Int64

    /// nil unless the ticket number is all digits (the only ones a ticket token can name); leading zeros do not count
    /// (as in the SQL of `Devices.caseID`, which compares `CAST(ticket_no AS INTEGER)`).
    init?(deviceID: String?, ticketNo: String?) {
        guard let deviceID, let ticketNo, !ticketNo.isEmpty,
            ticketNo.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        let digits = ticketNo.drop { $0 == "0" }
        guard digits.utf8.count <= 18, let number = digits.isEmpty ? 0 : Int64(digits) else { return nil }
        self.deviceID = deviceID
        self.number = number
    }
}

/// What a ticket token signs, to open its case before the export arrives (formats §2b).
public struct SignedTicket: Sendable, Equatable {
    public var deviceID: String
    public var ticketNumber: UInt32
    public var issuedAt: Int64
    public var amountCents: Int
    /// The catalogue's offence of the signed TBNR.
    public var offence: Offence

    public init(deviceID: String, ticketNumber: UInt32, issuedAt: Int64, amountCents: Int, offence: Offence) {
        self.deviceID = deviceID
        self.ticketNumber = ticketNumber
        self.issuedAt = issuedAt
        self.amountCents = amountCents
        self.offence = offence
    }
}

/// Provisional cases: a motorist who pays online before the shift's export is imported pays for a case opened from
/// what the ticket token signs (device, ticket number, time, TBNR, amount), so the payment providers' rules (one open
/// order, one capture per case, refunds) apply unchanged. Its source id starts with `claim:`; it has no plate or
/// place, no import, and is never reminded. The export's row of the same ticket completes it (the export's fields
/// win; a difference in TBNR, amount or time is kept as a `ticket_differs` event). A provisional case whose ticket is
/// not imported within `LOTSE_PENDING_DAYS` is cancelled, its money on the refund list.
public enum ProvisionalCases {
    /// The source id prefix of provisional cases (an export's source ids are `device/ticket`, `WN/…` or `XO/…`).
    public static let sourcePrefix = Ticket.provisionalSourcePrefix
    /// The SQL condition of a provisional case, and of any other (the unique index on source ids finds them).
    static let isProvisional = "source_id GLOB '\(Ticket.provisionalSourcePrefix)*'"
    static let isNotProvisional = "source_id NOT GLOB '\(Ticket.provisionalSourcePrefix)*'"

    /// A provisional case as the import sees it.
    struct Waiting {
        var id: Int64
        var tbnr: String
        var amountCents: Int
        var issuedAt: Int64
    }

    /// The provisional cases, by ticket (read once per import; the source id index finds them).
    static func waiting(_ db: Database) throws -> [TicketKey: Waiting] {
        var found: [TicketKey: Waiting] = [:]
        let rows = try Row.fetchAll(
            db,
            // a cancelled one (its ticket did not come in time; its money is on the refund list) is not completed: a
            // late export makes a case of its own
            sql: """
                SELECT id, device_id, ticket_no, tbnr, amount_cents, issued_at FROM cases
                WHERE \(isProvisional) AND status != 'cancelled' AND erased_at IS NULL
                """
        )
        for row in rows {
            guard let key = TicketKey(deviceID: row[1], ticketNo: row[2]) else { continue }
            found[key] = Waiting(id: row[0], tbnr: row[3], amountCents: row[4], issuedAt: row[5])
        }
        return found
    }

    /// The ticket's case (see `Store.provisionalCase`), inside the caller's write transaction.
    public static func open(_ db: Database, _ ticket: SignedTicket, prefix: String, paymentDays: Int, now: Int64) throws -> Int64 {
        let reference = TicketReference(deviceID: ticket.deviceID, number: ticket.ticketNumber)
        if let id = try Devices.caseID(db, ticket: reference) { return id }
        // the offence of the signed TBNR where the table has none yet; never a change to one the last import wrote
        try db.execute(
            sql: "INSERT OR IGNORE INTO offences (tbnr, text_de, amount_cents, points) VALUES (?, ?, ?, ?)",
            arguments: [ticket.offence.tbnr, ticket.offence.textDE, ticket.offence.amountCents, ticket.offence.points]
        )
        let writer = try CaseWriter(db: db, offences: [], prefix: prefix, paymentDays: paymentDays, importID: nil, now: now)
        let number = String(ticket.ticketNumber)
        let signed = Ticket(
            sourceID: sourcePrefix + ticket.deviceID + "/" + number,
            ticketNo: number,
            deviceID: ticket.deviceID,
            officerID: nil,
            issuedAt: ticket.issuedAt,
            plate: "",
            plateCountry: "",
            tbnr: ticket.offence.tbnr,
            amountCents: ticket.amountCents,
            street: "",
            houseNo: nil,
            placeNote: nil,
            zip: nil,
            city: "",
            lat: nil,
            lon: nil,
            qrPrinted: true,
            vehicleMake: nil,
            vehicleColor: nil
        )
        _ = try writer.add(signed)
        try writer.finish(imported: 1, duplicates: 0, rejected: 0, rejectsFile: nil)
        guard let id = try Devices.caseID(db, ticket: reference) else {
            throw LotseError.io("the provisional case of ticket \(number) of \(ticket.deviceID) cannot be read back")
        }
        _ = try Devices.applyWaitingPayments(db)
        return id
    }

    /// The export's ticket completes its provisional case: every field from the export, the case's number, status
    /// and payments kept. Where the export differs from what the token signed, the office sees it in the history.
    static func complete(_ db: Database, _ waiting: Waiting, with t: Ticket, deadline: String, importID: Int64?, now: Int64) throws {
        try db.execute(
            sql: """
                UPDATE cases SET source_id = ?, ticket_no = ?, device_id = ?, officer_id = ?, issued_at = ?, plate = ?,
                    plate_country = ?, tbnr = ?, amount_cents = ?, street = ?, house_no = ?, place_note = ?, zip = ?, city = ?,
                    lat = ?, lon = ?, qr_printed = ?, vehicle_make = ?, vehicle_color = ?, deadline = ?, import_id = ?,
                    issued_day = ?
                WHERE id = ?
                """,
            arguments: [
                t.sourceID, t.ticketNo, t.deviceID, t.officerID, t.issuedAt, t.plate, t.plateCountry, t.tbnr, t.amountCents,
                t.street, t.houseNo, t.placeNote, t.zip, t.city, t.lat, t.lon, t.qrPrinted, t.vehicleMake, t.vehicleColor,
                deadline, importID, t.localDate.description, waiting.id,
            ]
        )
        let differences = TicketDifferences.between(
            signed: (tbnr: waiting.tbnr, amountCents: waiting.amountCents, issuedAt: waiting.issuedAt),
            exported: (tbnr: t.tbnr, amountCents: t.amountCents, issuedAt: t.issuedAt)
        )
        if !differences.isEmpty {
            try CaseQueries.addEvent(db, caseID: waiting.id, kind: .ticketDiffers, at: now, detail: differences)
        }
        if t.amountCents != waiting.amountCents { try Ledger.reassess(db, caseID: waiting.id, at: now) }
    }
}

extension Store {
    /// The case of a ticket paid online before its export arrived: the ticket's case if there is one (imported, sent
    /// by the device API, or provisional already), else a new provisional case from what the token signs, with the
    /// next case number. Payments that waited for the ticket (a bank transfer with its reference) apply to it.
    public func provisionalCase(for ticket: SignedTicket, prefix: String, paymentDays: Int, now: Int64) async throws -> Int64 {
        try await writeAsync { db in try ProvisionalCases.open(db, ticket, prefix: prefix, paymentDays: paymentDays, now: now) }
    }

    /// Provisional cases opened before `cutoff` whose ticket never came are cancelled (the daily dunning run does
    /// this): the money paid for them goes on the refund list. Returns how many cases.
    public func cancelProvisionalCases(openedBefore cutoff: Int64, pendingDays: Int, now: Int64) throws -> Int {
        try write { db in
            let ids = try Int64.fetchAll(
                db,
                sql: "SELECT id FROM cases WHERE \(ProvisionalCases.isProvisional) AND created_at < ? AND status != 'cancelled'",
                arguments: [cutoff]
            )
            for id in ids {
                try Ledger.cancel(db, caseID: id, reason: "its ticket was not imported within \(pendingDays) days", at: now)
                try ProviderOrders.cancelOpenOrders(db, caseID: id, now: now)
            }
            return ids.count
        }
    }
}
