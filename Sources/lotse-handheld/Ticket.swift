import Foundation
import LotseCore

/// One issued ticket as the handheld records it: the fields of a Lotse CSV row (formats §1a).
struct Ticket: Sendable {
    var ticketNumber: String
    var deviceID: String
    var officerID: String
    /// UTC seconds, whole minutes.
    var issuedAt: Int64
    var plate: String
    var plateCountry: String
    var tbnr: String
    var amountCents: Int
    var street: String
    var houseNumber: String
    var placeNote: String
    var zip: String
    var city: String

    /// The columns of formats §1a, in the order of the table there.
    static let columns = [
        "ticket_no", "device_id", "officer_id", "issued_at", "plate", "plate_country", "tbnr", "amount_eur",
        "street", "house_no", "place_note", "zip", "city", "lat", "lon", "qr_printed", "vehicle_make", "vehicle_color",
    ]

    /// Berlin local time as the export writes it: `2026-03-14T09:30`.
    var issuedAtLocal: String {
        let local = BerlinTime.local(issuedAt)
        return "\(local.date)T\(local.clock)"
    }

    /// `25,00`: the German decimal mark, no currency.
    var amountText: String { Money.plain(amountCents).replacingOccurrences(of: ".", with: ",") }

    /// The values in the order of `columns`; a field the handheld did not record is empty.
    var values: [String] {
        [
            ticketNumber, deviceID, officerID, issuedAtLocal, plate, plateCountry, tbnr, amountText,
            street, houseNumber, placeNote, zip, city, "", "", "1", "", "",
        ]
    }

    /// The CSV row (with its LF), as `lotse import` reads it.
    var csvRow: String { CSVWriter.row(values) }

    static var csvHeader: String { CSVWriter.row(columns) }

    /// The device API's body: one JSON object, the CSV column names as keys, the values as strings; empty fields
    /// are left out.
    func json() throws -> [UInt8] {
        var object: [String: String] = [:]
        for (column, value) in Swift.zip(Self.columns, values) where !value.isEmpty { object[column] = value }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(object))
    }
}
