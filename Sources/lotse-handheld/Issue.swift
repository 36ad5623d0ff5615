import ArgumentParser
import Foundation
import LotseCore
import LotseTokens

/// `lotse-handheld issue`: one ticket, offline. Prints its token URL; optionally appends it to the shift's export,
/// writes the printed ticket as a PNG, and pushes it to the server.
struct Issue: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Issue a ticket: print its token URL, and optionally export, print (PNG) and push it."
    )

    @Option(help: "The device key file from `lotse devices add`.") var key: String
    @Option(help: "The ticket number as printed, leading zeros kept (e.g. 0004711).") var ticket: String
    @Option(help: "The vehicle's plate, e.g. 'KL-AB 123'.") var plate: String
    @Option(help: "The plate's country (formats §1a plate_country).") var plateCountry = "D"
    @Option(help: "The offence (6-digit TBNR of the catalogue).") var tbnr: String
    @Option(help: "Street of the offence.") var street: String
    @Option(help: "House number.") var houseNo = ""
    @Option(help: "A note on the place, e.g. 'vor Hausnr. 12'.") var placeNote = ""
    @Option(help: "Postcode.") var zip = ""
    @Option(help: "City of the offence (also the issuing city on the ticket).") var city: String
    @Option(help: "Time of the offence, Berlin local time (2026-03-14T09:30); default now.") var at: String?
    @Option(help: "The fine (25,00); must equal the catalogue's; default the catalogue's.") var amountEur: String?
    @Option(help: "The offence catalogue.") var catalogue = "pilot-data/tbnr-parking.csv"
    @Option(help: "The warden's id (officer_id).") var officer = ""
    @Option(help: "Days from the date of issue to the payment deadline printed on the ticket.") var paymentDays = 7
    @Option(help: "The shift's CSV export to append the ticket to (header written when the file is new).") var export: String?
    @Option(help: "Write the printed ticket here (PNG, 58 mm thermal layout, 384 dots wide).") var png: String?
    @Flag(help: "Send the ticket to the server's POST /api/v1/tickets.") var push = false
    @Option(help: "The server's base URL for --push (default: the key file's base_url).") var server: String?

    func run() throws {
        let keyFile = try DeviceKeyFile.read(from: key)
        guard let deviceKey = keyFile.keyBytes else { throw LotseError.input("\(key): the key file holds no device key") }
        let offences = try Catalogue(contentsOf: catalogue)
        let record = try makeTicket(deviceID: keyFile.deviceID, catalogue: offences)
        guard
            let claim = TicketClaim.ticket(
                keyID: keyFile.keyID,
                deviceNumber: keyFile.number,
                generation: keyFile.generation,
                ticketNumber: UInt32(record.ticketNumber)!,
                issuedAt: record.issuedAt,
                tbnr: record.tbnr,
                amountCents: record.amountCents
            )
        else { throw LotseError.usage("the ticket does not fit a token (time before 2020, TBNR or amount out of range)") }
        let url = TicketTokens.url(base: keyFile.baseURL, token: TicketTokens.make(claim, deviceKey: deviceKey))
        print(url)
        if let export { try ExportFile.append(record, to: export) }
        if let png {
            let payBy = BerlinTime.local(record.issuedAt).date.adding(days: paymentDays)
            let offenceText = offences[record.tbnr]?.textDE ?? record.tbnr
            let bitmap = try TicketPrint.render(record, offenceText: offenceText, payBy: payBy, url: url)
            guard FileManager.default.createFile(atPath: png, contents: Data(bitmap.png())) else {
                throw LotseError.io("\(png): cannot write the ticket image")
            }
        }
        if push {
            let reply = try Push.send(record, key: keyFile, server: server)
            let body = reply.text.split(whereSeparator: \.isNewline).joined(separator: " ")
            print("\(reply.status) \(body)")
            if !(200..<300).contains(reply.status) { throw ExitCode(1) }
        }
    }

    /// The ticket from the options, checked as the importer checks it (formats §1): a number, a time, a TBNR of
    /// the catalogue, its amount (a warning fine, at most 55,00 EUR).
    func makeTicket(deviceID: String, catalogue: Catalogue) throws -> Ticket {
        guard (1...10).contains(ticket.count), ticket.allSatisfy({ $0.isASCII && $0.isNumber }), UInt32(ticket) != nil else {
            throw LotseError.usage("--ticket '\(ticket.prefix(20))' must be a number of at most 10 digits below 2^32")
        }
        guard let offence = catalogue[tbnr] else { throw LotseError.usage("TBNR '\(tbnr.prefix(10))' is not in the catalogue \(self.catalogue)") }
        var amountCents = offence.amountCents
        if let amountEur {
            guard let given = Money.parseCents(amountEur) else { throw LotseError.usage("--amount-eur '\(amountEur.prefix(20))' is not an amount") }
            guard given == offence.amountCents else {
                throw LotseError.usage("--amount-eur \(amountEur) differs from the catalogue's \(Money.plain(offence.amountCents)) for \(tbnr)")
            }
            amountCents = given
        }
        guard amountCents <= Catalogue.warningFineCeilingCents else {
            throw LotseError.usage("TBNR \(tbnr) costs \(Money.plain(amountCents)) EUR: a Bußgeld, not a warning ticket")
        }
        var issuedAt = Int64(Date().timeIntervalSince1970)
        if let at {
            guard let parsed = TimeParser.parse(at) else { throw LotseError.usage("--at '\(at.prefix(30))' is not a time (2026-03-14T09:30)") }
            issuedAt = parsed
        }
        issuedAt -= issuedAt % 60
        for (name, value) in [("--plate", plate), ("--street", street), ("--city", city)] where value.trimmingSpaces().isEmpty {
            throw LotseError.usage("\(name) must not be empty")
        }
        guard paymentDays >= 0 else { throw LotseError.usage("--payment-days must not be negative") }
        return Ticket(
            ticketNumber: ticket,
            deviceID: deviceID,
            officerID: officer,
            issuedAt: issuedAt,
            plate: plate,
            plateCountry: plateCountry,
            tbnr: tbnr,
            amountCents: amountCents,
            street: street,
            houseNumber: houseNo,
            placeNote: placeNote,
            zip: zip,
            city: city
        )
    }
}
