import ArgumentParser
import Foundation
import LotseCore
import LotseStorage

struct CaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "case", abstract: "Show one case with its events.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "Case number.") var number: String
    @Flag(help: "Machine-readable output.") var json = false
    @Option(help: "Cancel the case (office correction, e.g. a wrong plate), giving the reason.") var cancel: String?

    func run() throws {
        let config = try common.config()
        let store = try common.store(config)
        if let reason = cancel {
            let r = reason.trimmingSpaces()
            guard !r.isEmpty else { throw LotseError.usage("--cancel needs a reason") }
            let (n, refunds) = try store.cancelCase(number: number, reason: r, at: Int64(Date().timeIntervalSince1970))
            print("case \(n) cancelled" + (refunds > 0 ? "; \(refunds) payment\(refunds == 1 ? "" : "s") put on the refund list" : ""))
            return
        }
        guard let history = try store.caseHistory(number: number) else { throw LotseError.input("case \(number) not found") }
        let (c, events, payments) = (history.record, history.events, history.payments)
        if json {
            var obj: [String: Any] = [
                "case_number": c.caseNumber, "ticket_no": c.ticketNo ?? NSNull(), "status": c.status.rawValue,
                "amount_cents": c.amountCents, "deadline": c.deadline, "tbnr": c.tbnr, "offence": c.offenceText,
                "issued_at": BerlinTime.isoUTC(c.issuedAt), "plate": c.plate, "place": c.place,
                "qr_printed": c.qrPrinted, "provisional": c.isProvisional,
            ]
            obj["payments"] = payments.map { p -> [String: Any] in
                var d: [String: Any] = [
                    "id": p.id, "channel": p.channel.rawValue, "amount_cents": p.amountCents,
                    "paid_at": BerlinTime.isoUTC(p.paidAt), "disposition": p.disposition.rawValue,
                ]
                if p.refundCents > 0 { d["refund_cents"] = p.refundCents }
                if let x = p.externalID { d["external_id"] = x }
                return d
            }
            obj["events"] = events.map { e -> [String: Any] in
                var d: [String: Any] = ["kind": e.kind.rawValue, "at": BerlinTime.isoUTC(e.at)]
                if let x = e.detail { d["detail"] = x }
                return d
            }
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        let l = BerlinTime.local(c.issuedAt)
        print(
            """
            case      \(c.caseNumber)  (ticket \(c.ticketNo ?? "–"))
            status    \(c.status.rawValue)
            offence   \(c.tbnr)  \(c.offenceText)
            amount    \(Money.display(c.amountCents, language: "en"))   deadline \(c.deadline)
            issued    \(l.german) (Europe/Berlin)
            place     \(c.place)
            plate     \(c.plate) (\(c.plateCountry))
            """
        )
        if c.isProvisional {
            print("record    provisional: paid online from the ticket's code before the export arrived; the export completes it")
        }
        let differences = Set(events.filter { $0.kind == .ticketDiffers }.compactMap(\.detail))
        for d in differences.sorted() { print("differs   the export disagrees with the ticket's code: \(d)") }
        if !payments.isEmpty {
            print("payments")
            for p in payments {
                print(
                    "  \(BerlinTime.local(p.paidAt).iso)  \(p.channel.rawValue)  \(Money.display(p.amountCents, language: "en"))  \(p.disposition.rawValue)\(p.refundCents > 0 ? "  refund " + Money.display(p.refundCents, language: "en") : "")"
                )
            }
        }
        print("events")
        for e in events {
            print("  \(BerlinTime.local(e.at).iso)  \(e.kind.rawValue)\(e.detail.map { "  " + $0 } ?? "")")
        }
    }
}
