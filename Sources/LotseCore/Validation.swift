/// Raw fields of one handheld record, as read by any of the formats.
public struct RawTicket: Sendable {
    public var sourceID: String?
    public var ticketNo: String?
    public var deviceID: String?
    public var officerID: String?
    public var issuedAt: String?
    public var plate: String?
    public var plateCountry: String?
    public var tbnr: String?
    public var amount: String?
    public var street: String?
    public var houseNo: String?
    public var placeNote: String?
    public var zip: String?
    public var city: String?
    public var lat: String?
    public var lon: String?
    public var qrPrinted: String?
    public var vehicleMake: String?
    public var vehicleColor: String?
    /// Photos the record names or carries (not checked here: the importer reads them).
    public var photos: [EvidencePhoto] = []
    public init() {}
}

/// The rules of formats §1: catalogue amounts, the Verwarnungsgeld ceiling, plates, times.
public struct TicketValidator: Sendable {
    public let catalogue: Catalogue
    public init(catalogue: Catalogue) { self.catalogue = catalogue }

    public enum Outcome: Sendable {
        case valid(Ticket)
        case rejected(String)
    }

    public func validate(_ r: RawTicket) -> Outcome {
        func opt(_ v: String?) -> String? {
            guard let v = v?.trimmingSpaces(), !v.isEmpty else { return nil }
            return v
        }
        var missing: [String] = []
        let sourceID = opt(r.sourceID)
        if sourceID == nil { missing.append(r.deviceID == nil ? "device_id" : "ticket_no") }
        let issuedText = opt(r.issuedAt)
        if issuedText == nil { missing.append("issued_at") }
        let plateText = opt(r.plate)
        if plateText == nil { missing.append("plate") }
        let tbnr = opt(r.tbnr)
        if tbnr == nil { missing.append("tbnr") }
        let street = opt(r.street)
        if street == nil { missing.append("street") }
        let city = opt(r.city)
        if city == nil { missing.append("city") }
        if !missing.isEmpty { return .rejected("missing \(missing.joined(separator: ", "))") }
        // the prefix of the cases Lotse opens itself from a ticket's code (provisional cases)
        if sourceID!.hasPrefix(Ticket.provisionalSourcePrefix) {
            return .rejected("device_id must not begin with '\(Ticket.provisionalSourcePrefix)'")
        }

        guard let issuedAt = TimeParser.parse(issuedText!) else {
            return .rejected("issued_at '\(issuedText!)' is not a date and time")
        }
        guard tbnr!.count == 6, tbnr!.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            return .rejected("tbnr '\(tbnr!)' is not 6 digits")
        }
        guard let offence = catalogue[tbnr!] else {
            return .rejected("tbnr \(tbnr!) is not in the offence catalogue")
        }
        if offence.amountCents > Catalogue.warningFineCeilingCents {
            return .rejected("tbnr \(tbnr!): \(Money.plain(offence.amountCents)) EUR is above the 55.00 EUR of a Verwarnungsgeld")
        }
        if let a = opt(r.amount) {
            guard let cents = Money.parseCents(a) else { return .rejected("amount '\(a)' is not an amount") }
            if cents > Catalogue.warningFineCeilingCents {
                return .rejected("amount \(Money.plain(cents)) EUR is above the 55.00 EUR of a Verwarnungsgeld")
            }
            if cents != offence.amountCents {
                return .rejected(
                    "amount \(Money.plain(cents)) EUR differs from the catalogue's \(Money.plain(offence.amountCents)) EUR for tbnr \(tbnr!)"
                )
            }
        }
        var country = (opt(r.plateCountry) ?? "D").uppercased()
        if country == "DE" { country = "D" }
        guard let plate = Plate.normalise(plateText!, country: country) else {
            return .rejected("plate '\(plateText!)' is not a valid German plate")
        }
        var lat: Double?
        var lon: Double?
        if let t = opt(r.lat) {
            guard let v = Double(t.replacingComma()), (-90...90).contains(v) else { return .rejected("lat '\(t)' is not a latitude") }
            lat = v
        }
        if let t = opt(r.lon) {
            guard let v = Double(t.replacingComma()), (-180...180).contains(v) else { return .rejected("lon '\(t)' is not a longitude") }
            lon = v
        }
        var qr = true
        if let q = opt(r.qrPrinted) {
            switch q.lowercased() {
            case "1", "true", "yes", "ja", "j": qr = true
            case "0", "false", "no", "nein", "n": qr = false
            default: return .rejected("qr_printed '\(q)' is not 0 or 1")
            }
        }
        return .valid(
            Ticket(
                sourceID: sourceID!,
                ticketNo: opt(r.ticketNo),
                deviceID: opt(r.deviceID),
                officerID: opt(r.officerID),
                issuedAt: issuedAt,
                plate: plate,
                plateCountry: country,
                tbnr: tbnr!,
                amountCents: offence.amountCents,
                street: street!,
                houseNo: opt(r.houseNo),
                placeNote: opt(r.placeNote),
                zip: opt(r.zip),
                city: city!,
                lat: lat,
                lon: lon,
                qrPrinted: qr,
                vehicleMake: opt(r.vehicleMake),
                vehicleColor: opt(r.vehicleColor)
            )
        )
    }
}

extension String {
    func replacingComma() -> String { utf8.contains(44) ? String(self.map { $0 == "," ? "." : $0 }) : self }
}
