/// The payee account for bank transfers and the GiroCode.
public struct Payee: Sendable, Equatable {
    public let name: String
    public let iban: String
    public let bic: String

    /// `DE89 3704 0044 0532 0130 00`
    public let ibanGrouped: String

    public init(name: String, iban: String, bic: String) {
        self.name = name
        self.iban = IBAN.normalise(iban)
        self.bic = bic.uppercased()
        ibanGrouped = Payee.grouped(self.iban)
    }

    /// Clearly marked demo account (a well-known valid test IBAN), used only in demo mode.
    public static let demo = Payee(name: "Stadtkasse Kaiserslautern (DEMO)", iban: "DE89370400440532013000", bic: "COBADEFFXXX")

    /// Groups of four characters: `DE89 3704 …`, `RF18 5390 …` (for reading aloud and typing).
    public static func grouped(_ s: String) -> String {
        var out = ""
        for (i, c) in s.enumerated() {
            if i > 0 && i % 4 == 0 { out.append(" ") }
            out.append(c)
        }
        return out
    }
}

/// EPC QR code payload (EPC069-12, version 002) for a SEPA credit transfer with an RF reference.
public enum GiroCode {
    public enum Failure: Error, Equatable { case invalidIBAN, invalidReference, nameTooLong, tooLarge, invalidAmount }

    public static func payload(payee: Payee, amountCents: Int, reference: String, note: String? = nil) throws -> String {
        guard IBAN.isValid(payee.iban) else { throw Failure.invalidIBAN }
        guard RFReference.isValid(reference), reference.count <= 35 else { throw Failure.invalidReference }
        guard payee.name.count <= 70, !payee.name.isEmpty else { throw Failure.nameTooLong }
        guard amountCents >= 1, amountCents <= 99_999_999_999 else { throw Failure.invalidAmount }
        var lines = [
            "BCD", "002", "1", "SCT", payee.bic, payee.name, payee.iban, "EUR" + Money.plain(amountCents),
            "", reference,
        ]
        if let note, !note.isEmpty {
            lines.append("")  // no unstructured remittance next to a structured one
            lines.append(String(note.prefix(70)))
        }
        let text = lines.joined(separator: "\n")
        guard text.utf8.count <= 331 else { throw Failure.tooLarge }
        return text
    }
}
