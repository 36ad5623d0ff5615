import LotseCore

/// Lotse CSV (formats §1a): `;`-separated, header with case-insensitive names in any order,
/// UTF-8 or Windows-1252, optional BOM, CRLF tolerated, RFC 4180 quoting.
struct CSVFormat {
    static let required = ["ticket_no", "device_id", "issued_at", "plate", "tbnr", "street", "city"]
    static let known =
        required + [
            "officer_id", "plate_country", "amount_eur", "house_no", "place_note", "zip",
            "lat", "lon", "qr_printed", "vehicle_make", "vehicle_color", "photos",
        ]

    /// The longest field Lotse keeps, in bytes: a street, a note or a plate is far shorter.
    static let maxFieldBytes = 1024

    /// One record split into fields, or why it cannot be read.
    struct Row {
        var fields: [String]
        var problem: String?
    }

    /// Splits one record into fields (RFC 4180 with `;`). A quote opens a field only at its start; a quoted
    /// field must end with its quote (`"a""b"`), text after the closing quote is malformed. Control bytes other
    /// than tab (and CR, LF inside quotes) and fields over `maxFieldBytes` make the record a rejected row.
    static func fields(_ bytes: UnsafeBufferPointer<UInt8>) -> Row {
        let semicolon = UInt8(ascii: ";")
        let quote = UInt8(ascii: "\"")
        var out: [String] = []
        out.reserveCapacity(24)
        var problem: String?
        func note(_ message: @autoclosure () -> String) { if problem == nil { problem = message() } }
        func control(_ b: UInt8) -> Bool { (b < 32 && b != 9) || b == 127 }
        func controlName(_ b: UInt8) -> String { b == 0 ? "a NUL byte" : "the control character 0x" + String(b, radix: 16, uppercase: true) }
        var i = 0
        let n = bytes.count
        while true {
            let number = out.count + 1
            if i < n && bytes[i] == quote {  // quoted field
                var field: [UInt8] = []
                i += 1
                var closed = false
                while i < n {
                    let b = bytes[i]
                    if b == quote {
                        if i + 1 < n && bytes[i + 1] == quote {
                            field.append(quote)
                            i += 2
                            continue
                        }
                        i += 1
                        closed = true
                        break
                    }
                    if control(b) && b != 10 && b != 13 { note("field \(number): \(controlName(b))") }
                    field.append(b)
                    i += 1
                }
                if !closed { note("field \(number): a quoted field that is never closed") }
                if i < n && bytes[i] != semicolon { note("field \(number): text after the closing quote") }
                while i < n && bytes[i] != semicolon {
                    field.append(bytes[i])
                    i += 1
                }
                if field.count > maxFieldBytes { note("field \(number) is longer than \(maxFieldBytes) bytes") }
                out.append(field.withUnsafeBufferPointer { TextDecoding.decode($0) })
            } else {
                let s = i
                while i < n && bytes[i] != semicolon {
                    if control(bytes[i]) { note("field \(number): \(controlName(bytes[i]))") }
                    i += 1
                }
                if i - s > maxFieldBytes { note("field \(number) is longer than \(maxFieldBytes) bytes") }
                out.append(TextDecoding.decode(UnsafeBufferPointer(rebasing: bytes[s..<i])))
            }
            if i >= n { break }
            i += 1  // separator
            if i == n {
                out.append("")
                break
            }
        }
        return Row(fields: out, problem: problem)
    }

    /// The reason a record could not be read at all.
    static func describe(_ problem: ByteReader.Problem) -> String {
        switch problem {
        case .tooLong: return "the row is longer than 1 MiB (only its start is kept here)"
        case .unterminatedQuote: return "a quoted field that is never closed (only this line is rejected)"
        }
    }

    /// The raw row for the rejects file: at most 1,024 bytes of it, so that a huge row is not stored.
    static func rawText(_ record: ByteReader.Record) -> String {
        var limit = 1024
        if record.bytes.count <= limit, record.problem == nil { return TextDecoding.decode(record.bytes) }
        // cut before a UTF-8 continuation byte, never inside a character
        while limit > 0 && limit < record.bytes.count && record.bytes[limit] & 0xC0 == 0x80 { limit -= 1 }
        let cut = UnsafeBufferPointer(rebasing: record.bytes.prefix(limit))
        var text = TextDecoding.decode(cut)
        if case .tooLong = record.problem {
            text += " [cut]"
        } else if record.bytes.count > limit {
            text += " [\(record.bytes.count - limit) more bytes]"
        }
        return text
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

    /// A column's name as the header gives it, read as the import reads it: without surrounding spaces, in lower case,
    /// without a byte order mark.
    static func columnName(_ raw: String) -> String {
        var name = raw.trimmingSpaces().lowercased()
        if name.hasPrefix("\u{FEFF}") { name.removeFirst() }
        return name
    }

    static func header(_ fields: [String], path: String) throws -> Header {
        var h = Header()
        for (i, raw) in fields.enumerated() {
            let name = columnName(raw)
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
        if let names = h.at(f, 18) { r.photos = photoNames(names) }
        return r
    }

    /// The `photos` column: file names of the same upload, separated by `|` or `,` (spaces around them ignored).
    static func photoNames(_ value: String) -> [EvidencePhoto] {
        value.split(whereSeparator: { $0 == "|" || $0 == "," }).map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
            .prefix(PhotoIntake.maxPerTicket + 1).map { .file($0) }
    }
}
