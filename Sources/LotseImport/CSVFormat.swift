import LotseCore

/// Lotse CSV (formats §1a): `;`-separated, header with case-insensitive names in any order,
/// UTF-8 or Windows-1252, optional BOM, CRLF tolerated, RFC 4180 quoting.
struct CSVFormat {
    static let required = ["ticket_no", "device_id", "issued_at", "plate", "tbnr", "street", "city"]
    static let known = required + ["officer_id", "plate_country", "amount_eur", "house_no", "place_note", "zip",
                                   "lat", "lon", "qr_printed", "vehicle_make", "vehicle_color"]

    /// Splits one record into fields.
    static func fields(_ bytes: UnsafeBufferPointer<UInt8>) -> [String] {
        var out: [String] = []
        out.reserveCapacity(24)
        var i = 0
        let n = bytes.count
        while true {
            if i < n && bytes[i] == 34 { // quoted field
                var field: [UInt8] = []
                i += 1
                while i < n {
                    if bytes[i] == 34 {
                        if i + 1 < n && bytes[i + 1] == 34 { field.append(34); i += 2; continue }
                        i += 1
                        break
                    }
                    field.append(bytes[i]); i += 1
                }
                while i < n && bytes[i] != 59 { field.append(bytes[i]); i += 1 } // tolerate junk after the quote
                out.append(field.withUnsafeBufferPointer { TextDecoding.decode($0) })
            } else {
                let s = i
                while i < n && bytes[i] != 59 { i += 1 }
                out.append(TextDecoding.decode(UnsafeBufferPointer(rebasing: bytes[s..<i])))
            }
            if i >= n { break }
            i += 1 // separator
            if i == n { out.append(""); break }
        }
        return out
    }

    struct Header {
        var index: [String: Int] = [:]
        func get(_ f: [String], _ name: String) -> String? {
            guard let i = index[name], i < f.count else { return nil }
            return f[i]
        }
    }

    static func header(_ fields: [String], path: String) throws -> Header {
        var h = Header()
        for (i, raw) in fields.enumerated() {
            var name = raw.trimmingSpaces().lowercased()
            if name.hasPrefix("\u{FEFF}") { name.removeFirst() }
            if h.index[name] == nil { h.index[name] = i }
        }
        let missing = required.filter { h.index[$0] == nil }
        if !missing.isEmpty {
            throw LotseError.input("\(path):1: header lacks the required column\(missing.count > 1 ? "s" : "") \(missing.joined(separator: ", "))")
        }
        return h
    }

    static func raw(_ f: [String], _ h: Header) -> RawTicket {
        var r = RawTicket()
        r.ticketNo = h.get(f, "ticket_no")
        r.deviceID = h.get(f, "device_id")
        if let d = r.deviceID?.trimmingSpaces(), let t = r.ticketNo?.trimmingSpaces(), !d.isEmpty, !t.isEmpty {
            r.sourceID = d + "/" + t
        }
        r.officerID = h.get(f, "officer_id")
        r.issuedAt = h.get(f, "issued_at")
        r.plate = h.get(f, "plate")
        r.plateCountry = h.get(f, "plate_country")
        r.tbnr = h.get(f, "tbnr")
        r.amount = h.get(f, "amount_eur")
        r.street = h.get(f, "street")
        r.houseNo = h.get(f, "house_no")
        r.placeNote = h.get(f, "place_note")
        r.zip = h.get(f, "zip")
        r.city = h.get(f, "city")
        r.lat = h.get(f, "lat")
        r.lon = h.get(f, "lon")
        r.qrPrinted = h.get(f, "qr_printed")
        r.vehicleMake = h.get(f, "vehicle_make")
        r.vehicleColor = h.get(f, "vehicle_color")
        return r
    }
}
