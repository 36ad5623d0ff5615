/// Where an export's ticket disagrees with what its ticket token signed (formats §2b): the export wins, the office
/// is shown the difference.
public enum TicketDifferences {
    /// One line naming each field that differs (`TBNR signed 141312, exported 141313; …`), empty when they agree.
    /// A token signs whole minutes: the exported time is compared to the minute.
    public static func between(
        signed: (tbnr: String, amountCents: Int, issuedAt: Int64),
        exported: (tbnr: String, amountCents: Int, issuedAt: Int64)
    ) -> String {
        var parts: [String] = []
        if signed.tbnr != exported.tbnr { parts.append("TBNR signed \(signed.tbnr), exported \(exported.tbnr)") }
        if signed.amountCents != exported.amountCents {
            parts.append(
                "amount signed \(Money.display(signed.amountCents, language: "en")), exported \(Money.display(exported.amountCents, language: "en"))"
            )
        }
        if signed.issuedAt / 60 != exported.issuedAt / 60 {
            parts.append("time signed \(BerlinTime.local(signed.issuedAt).iso), exported \(BerlinTime.local(exported.issuedAt).iso)")
        }
        return parts.joined(separator: "; ")
    }
}
