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
        /// Column positions resolved once per file, in the order of `known`.
        var positions: [Int] = []
        @inline(__always) func at(_ f: [String], _ k: Int) -> String? {
            let i = positions[k]
            return i >= 0 && i < f.count ? f[i] : nil
        }
    }

    static func header(_ fields: [String], path: String) throws -> Header {
        var h = Header()
        for (i, raw) in fields.enumerated() {
            var name = raw.trimmingSpaces().lowercased()
            if name.hasPrefix("\u{FEFF}") { name.removeFirst() }
            if h.index[name] == nil { h.index[name] = i }
        }
        h.positions = known.map { h.index[$0] ?? -1 }
        let missing = required.filter { h.index[$0] == nil }
        if !missing.isEmpty {
            throw LotseError.input("\(path):1: header lacks the required column\(missing.count > 1 ? "s" : "") \(missing.joined(separator: ", "))")
        }
        return h
    }

    static func raw(_ f: [String], _ h: Header) -> RawTicket {
        // indices into `known`
        var r = RawTicket()
        r.ticketNo = h.at(f, 0)
        r.deviceID = h.at(f, 1)
        if let d = r.deviceID?.trimmingSpaces(), let t = r.ticketNo?.trimmingSpaces(), !d.isEmpty, !t.isEmpty {
            r.sourceID = d + "/" + t
        }
        r.issuedAt = h.at(f, 2)
        r.plate = h.at(f, 3)
        r.tbnr = h.at(f, 4)
        r.street = h.at(f, 5)
        r.city = h.at(f, 6)
        r.officerID = h.at(f, 7)
        r.plateCountry = h.at(f, 8)
        r.amount = h.at(f, 9)
        r.houseNo = h.at(f, 10)
        r.placeNote = h.at(f, 11)
        r.zip = h.at(f, 12)
        r.lat = h.at(f, 13)
        r.lon = h.at(f, 14)
        r.qrPrinted = h.at(f, 15)
        r.vehicleMake = h.at(f, 16)
        r.vehicleColor = h.at(f, 17)
        return r
    }
}
