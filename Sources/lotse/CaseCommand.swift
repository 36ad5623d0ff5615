import ArgumentParser
import Foundation
import LotseCore
import LotseStorage

struct CaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "case", abstract: "Show one case with its events.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "Case number.") var number: String
    @Flag(help: "Machine-readable output.") var json = false

    func run() throws {
        let config = common.config()
        let store = try common.store(config)
        let (c, events) = try store.read { db -> (CaseRecord, [EventRecord]) in
            guard let c = try CaseQueries.byNumber(db, number) else { throw LotseError.input("case \(number) not found") }
            return (c, try CaseQueries.events(db, caseID: c.id))
        }
        if json {
            var obj: [String: Any] = [
                "case_number": c.caseNumber, "ticket_no": c.ticketNo ?? NSNull(), "status": c.status.rawValue,
                "amount_cents": c.amountCents, "deadline": c.deadline, "tbnr": c.tbnr, "offence": c.offenceText,
                "issued_at": BerlinTime.isoUTC(c.issuedAt), "plate": c.plate, "place": c.place,
                "qr_printed": c.qrPrinted,
            ]
            obj["payments"] = [Any]()
            obj["events"] = events.map { e -> [String: Any] in
                var d: [String: Any] = ["kind": e.kind, "at": BerlinTime.isoUTC(e.at)]
                if let x = e.detail { d["detail"] = x }
                return d
            }
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        let l = BerlinTime.local(c.issuedAt)
        print("""
        case      \(c.caseNumber)  (ticket \(c.ticketNo ?? "–"))
        status    \(c.status.rawValue)
        offence   \(c.tbnr)  \(c.offenceText)
        amount    \(Money.display(c.amountCents, language: "en"))   deadline \(c.deadline)
        issued    \(l.german) (Europe/Berlin)
        place     \(c.place)
        plate     \(c.plate) (\(c.plateCountry))
        events
        """)
        for e in events {
            print("  \(BerlinTime.local(e.at).iso)  \(e.kind)\(e.detail.map { "  " + $0 } ?? "")")
        }
    }
}
