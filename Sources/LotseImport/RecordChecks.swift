import LotseCore

/// The checks an imported record passes besides the format rules of `TicketValidator`: values a handheld
/// cannot have produced (an offence in the year 9999, `lat=0x10`, a field of megabytes) are rejected with
/// a reason instead of becoming a case.
struct RecordValidator: Sendable {
    let validator: TicketValidator
    /// The time of the import: an offence may lie at most a day after it (clocks of handhelds drift).
    let now: Int64

    /// 2000-01-01T00:00:00Z: no pilot ticket is older.
    static let earliest: Int64 = 946_684_800
    static let maxFuture: Int64 = 86_400
    /// Characters of one value (a street, a note, a plate): far above any real one.
    static let maxValueCharacters = 1024

    func validate(_ raw: RawTicket) -> TicketValidator.Outcome {
        if let reason = Self.precheck(raw) { return .rejected(reason) }
        let outcome = validator.validate(raw)
        guard case .valid(var ticket) = outcome else { return outcome }
        ticket.photos = raw.photos
        let text = raw.issuedAt?.trimmingSpaces() ?? ""
        if ticket.issuedAt > now + Self.maxFuture {
            return .rejected("issued_at '\(text)' is more than a day in the future")
        }
        if ticket.issuedAt < Self.earliest {
            return .rejected("issued_at '\(text)' is before 2000")
        }
        return .valid(ticket)
    }

    /// Control bytes need no check here: the CSV reader rejects a row with one, and XML 1.0 has none.
    static func precheck(_ r: RawTicket) -> String? {
        let values: [(String, String?)] = [
            ("ticket_no", r.ticketNo), ("device_id", r.deviceID), ("officer_id", r.officerID), ("issued_at", r.issuedAt),
            ("plate", r.plate), ("plate_country", r.plateCountry), ("tbnr", r.tbnr), ("amount_eur", r.amount),
            ("street", r.street), ("house_no", r.houseNo), ("place_note", r.placeNote), ("zip", r.zip), ("city", r.city),
            ("lat", r.lat), ("lon", r.lon), ("qr_printed", r.qrPrinted), ("vehicle_make", r.vehicleMake),
            ("vehicle_color", r.vehicleColor),
        ]
        for (name, value) in values {
            guard let v = value else { continue }
            if v.utf8.count > maxValueCharacters && v.count > maxValueCharacters {
                return "\(name) is longer than \(maxValueCharacters) characters"
            }
        }
        for (name, value, limit) in [("lat", r.lat, 90), ("lon", r.lon, 180)] {
            guard let t = value?.trimmingSpaces(), !t.isEmpty else { continue }
            if !isPlainDecimal(t, maxIntegerDigits: limit == 90 ? 2 : 3) {
                return "\(name) '\(t.prefix(40))' is not a plain decimal number"
            }
        }
        return nil
    }

    /// `49.4447`, `-7,769`, `+49`: an optional sign, 1 to `maxIntegerDigits` digits, optionally a point or
    /// comma and 1 to 12 digits. Not `0x10`, `1e2`, `inf`, `nan` or `.5`, which `Double` would take.
    static func isPlainDecimal(_ s: String, maxIntegerDigits: Int) -> Bool {
        var u = Substring(s).utf8[...]
        if let f = u.first, f == UInt8(ascii: "+") || f == UInt8(ascii: "-") { u = u.dropFirst() }
        let isDigit = { (b: UInt8) in b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        let integer = u.prefix(while: isDigit)
        guard (1...maxIntegerDigits).contains(integer.count) else { return false }
        u = u.dropFirst(integer.count)
        if u.isEmpty { return true }
        guard u.first == UInt8(ascii: ".") || u.first == UInt8(ascii: ",") else { return false }
        u = u.dropFirst()
        return (1...12).contains(u.count) && u.allSatisfy(isDigit)
    }
}
