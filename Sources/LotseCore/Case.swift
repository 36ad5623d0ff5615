/// States of a case (spec: machine-readable outputs).
public enum CaseStatus: String, Sendable, CaseIterable {
    case open, paid, overdue, reminded, cancelled
    /// Unpaid after the reminder: handed over to the Bußgeld procedure (`lotse handover`); Lotse takes no more money
    /// for it online.
    case handedOver = "handed_over"

    /// Closed: nothing more happens to it in Lotse (its personal data is erased after the retention period).
    public var isClosed: Bool { self == .paid || self == .cancelled || self == .handedOver }

    /// Open, overdue or reminded: the motorist can still pay.
    public var isPayable: Bool { self == .open || self == .overdue || self == .reminded }
}

/// What happened to a case: the kinds of its history (`events.kind`; `imported` is implied by the case row).
public enum EventKind: String, Sendable, Codable, CaseIterable {
    case imported
    case pageViewed = "page_viewed"
    case handoffStarted = "handoff_started"
    case paid
    case partialPayment = "partial_payment"
    case refundDue = "refund_due"
    case paymentAssigned = "payment_assigned"
    case paymentRefunded = "payment_refunded"
    case paymentFailed = "payment_failed"
    case paymentDenied = "payment_denied"
    case overdue
    case reminder
    case cancelled
    /// The export of a ticket disagrees with what its ticket token signed (detail: the fields).
    case ticketDiffers = "ticket_differs"
    /// Handed over to the Bußgeld procedure (detail: the handover file's name).
    case handedOver = "handed_over"
    /// Its personal data erased after the retention period.
    case erased
    /// Not reminded by a dunning run because a payment was in flight (detail: the run's day); the next run lists it.
    case reminderHeld = "reminder_held"
    /// The office corrected the plate or the place (detail: the old value and the reason).
    case corrected
    /// The motorist sent a statement (detail: its number); the case waits for the office's decision.
    case statementReceived = "statement_received"
    /// The office decided a statement (detail: accepted or rejected, and the reason).
    case statementDecided = "statement_decided"
}

/// Payment channels.
public enum PaymentChannel: String, Sendable, Codable, CaseIterable {
    case paypal
    case bankTransfer = "bank_transfer"
    case cash
    /// The city's e-payment platform (XBezahldienste: ePayBL, ePay21, pmPayment).
    case epayment
}

/// A photo a handheld export carries for a ticket (issue 16): a file named in the export that came in the same upload
/// (CSV column `photos`, WiNOWiG `Bild/@Dateiname`), or the picture itself inside the export (WiNOWiG `Bild/Daten`, base64).
public enum EvidencePhoto: Sendable, Equatable {
    case file(String)
    case bytes([UInt8])
    /// A picture in the export larger than a photo may be (its bytes were not kept).
    case oversized
}

/// A validated ticket from a handheld export, ready to become a case.
public struct Ticket: Sendable, Equatable {
    /// The start of the source id of a case Lotse opened itself from a ticket's code before its export arrived (a
    /// provisional case); no export's source id may start so.
    public static let provisionalSourcePrefix = "claim:"

    public var sourceID: String
    public var ticketNo: String?
    public var deviceID: String?
    public var officerID: String?
    public var issuedAt: Int64
    public var plate: String
    public var plateCountry: String
    public var tbnr: String
    public var amountCents: Int
    public var street: String
    public var houseNo: String?
    public var placeNote: String?
    public var zip: String?
    public var city: String
    public var lat: Double?
    public var lon: Double?
    public var qrPrinted: Bool
    public var vehicleMake: String?
    public var vehicleColor: String?
    /// The warden's photos of the ticket, as the export names them (attached to the case when it is imported).
    public var photos: [EvidencePhoto] = []
    /// The offence date in Berlin, derived once from `issuedAt`.
    public var localDate: CivilDate

    public init(
        sourceID: String,
        ticketNo: String?,
        deviceID: String?,
        officerID: String?,
        issuedAt: Int64,
        plate: String,
        plateCountry: String,
        tbnr: String,
        amountCents: Int,
        street: String,
        houseNo: String?,
        placeNote: String?,
        zip: String?,
        city: String,
        lat: Double?,
        lon: Double?,
        qrPrinted: Bool,
        vehicleMake: String?,
        vehicleColor: String?
    ) {
        self.sourceID = sourceID
        self.ticketNo = ticketNo
        self.deviceID = deviceID
        self.officerID = officerID
        self.issuedAt = issuedAt
        self.plate = plate
        self.plateCountry = plateCountry
        self.tbnr = tbnr
        self.amountCents = amountCents
        self.street = street
        self.houseNo = houseNo
        self.placeNote = placeNote
        self.zip = zip
        self.city = city
        self.lat = lat
        self.lon = lon
        self.qrPrinted = qrPrinted
        self.vehicleMake = vehicleMake
        self.vehicleColor = vehicleColor
        self.localDate = BerlinTime.local(issuedAt).date
    }

    /// Payment deadline: the offence date (Berlin) plus the payment days.
    public func deadline(paymentDays: Int) -> CivilDate {
        localDate.adding(days: paymentDays)
    }
}

/// Case numbers like `KL-2026-0001234`: prefix, year of issue, sequence within the year.
/// With separators removed they must fit the 21 characters of an RF reference.
public enum CaseNumber {
    public static func make(prefix: String, year: Int, sequence: Int) -> String {
        "\(prefix.uppercased())-\(year)-\(pad(sequence, 7))"
    }

    /// Letters and digits only, upper case: the payload of the RF reference.
    public static func compact(_ s: String) -> String {
        if s.utf8.allSatisfy({ $0 < 0x80 }) {
            // the usual case (case numbers are ASCII): byte by byte
            var bytes: [UInt8] = []
            bytes.reserveCapacity(s.utf8.count)
            for b in s.utf8 {
                switch b {
                case 48...57, 65...90: bytes.append(b)
                case 97...122: bytes.append(b - 32)
                default: continue
                }
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        return String(s.uppercased().filter { $0.isASCII && ($0.isLetter || $0.isNumber) })
    }

    /// The case number back from its letters and digits: prefix, 4-digit year, 7-digit sequence.
    public static func expand(_ compact: String) -> String? {
        let u = Array(compact.utf8)
        guard u.count >= 12, u.count <= 17 else { return nil }
        let digits = u.suffix(11)
        guard digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        let prefix = u.prefix(u.count - 11)
        guard prefix.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) }) else { return nil }
        let d = Array(digits)
        return String(decoding: prefix, as: UTF8.self) + "-" + String(decoding: d[0..<4], as: UTF8.self) + "-"
            + String(decoding: d[4..<11], as: UTF8.self)
    }

    /// A prefix must be 1–6 letters or digits so that the compact form stays within 21 characters.
    public static func isValidPrefix(_ p: String) -> Bool {
        !p.isEmpty && p.count <= 6 && p.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }
    }
}
