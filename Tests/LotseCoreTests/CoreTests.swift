import LotseCore
import LotseTestSupport
import Testing

@Suite struct MoneyTests {
    @Test func parsesGermanAndEnglishAmounts() {
        #expect(Money.parseCents("25,00") == 2500)
        #expect(Money.parseCents("25.00") == 2500)
        #expect(Money.parseCents("25") == 2500)
        #expect(Money.parseCents(" 7,5 ") == 750)
        #expect(Money.parseCents("0,05") == 5)
        #expect(Money.parseCents("25,001") == nil)
        #expect(Money.parseCents("1.000,00") == nil)
        #expect(Money.parseCents("abc") == nil)
        #expect(Money.parseCents("") == nil)
        #expect(Money.parseCents("25,") == nil)
    }

    @Test func formatsPerLanguage() {
        #expect(Money.display(2500, language: "de") == "25,00\u{00A0}€")
        #expect(Money.display(2500, language: "en") == "€25.00")
        #expect(Money.display(123456, language: "de") == "1.234,56\u{00A0}€")
        #expect(Money.plain(2505) == "25.05")
        #expect(Money.plain(5) == "0.05")
    }
}

@Suite struct TimeTests {
    @Test func civilDateRoundTrip() {
        for days in stride(from: -1000, to: 30000, by: 37) {
            #expect(CivilDate(daysSinceEpoch: days).daysSinceEpoch == days)
        }
        #expect(CivilDate(year: 2026, month: 3, day: 14).weekday == 6)  // Saturday
        #expect(CivilDate(year: 2024, month: 2, day: 29).isValid)
        #expect(!CivilDate(year: 2026, month: 2, day: 29).isValid)
    }

    @Test func berlinOffsetsAndDSTBoundaries() {
        // 2026: summer time from 29 March 01:00 UTC to 25 October 01:00 UTC
        let winter = BerlinTime.utc(date: CivilDate(year: 2026, month: 3, day: 14), hour: 8, minute: 12)
        #expect(BerlinTime.isoUTC(winter) == "2026-03-14T07:12:00Z")
        let summer = BerlinTime.utc(date: CivilDate(year: 2026, month: 7, day: 1), hour: 8, minute: 0)
        #expect(BerlinTime.isoUTC(summer) == "2026-07-01T06:00:00Z")
        let beforeSwitch = BerlinTime.utc(date: CivilDate(year: 2026, month: 3, day: 29), hour: 1, minute: 59)
        #expect(BerlinTime.isoUTC(beforeSwitch) == "2026-03-29T00:59:00Z")
        let afterSwitch = BerlinTime.utc(date: CivilDate(year: 2026, month: 3, day: 29), hour: 3, minute: 0)
        #expect(BerlinTime.isoUTC(afterSwitch) == "2026-03-29T01:00:00Z")
        // the autumn hour that occurs twice: the earlier (summer) instant
        let ambiguous = BerlinTime.utc(date: CivilDate(year: 2026, month: 10, day: 25), hour: 2, minute: 30)
        #expect(BerlinTime.isoUTC(ambiguous) == "2026-10-25T00:30:00Z")
        #expect(BerlinTime.local(summer).german == "01.07.2026 08:00")
        #expect(BerlinTime.local(winter).clock == "08:12")
    }

    @Test func parsesHandheldTimes() {
        #expect(TimeParser.parse("2026-03-14T08:12").map(BerlinTime.isoUTC) == "2026-03-14T07:12:00Z")
        #expect(TimeParser.parse("14.03.2026 08:12").map(BerlinTime.isoUTC) == "2026-03-14T07:12:00Z")
        #expect(TimeParser.parse("2026-03-14 08:12:30").map(BerlinTime.isoUTC) == "2026-03-14T07:12:30Z")
        #expect(TimeParser.parse("2026-03-14T08:12:00Z").map(BerlinTime.isoUTC) == "2026-03-14T08:12:00Z")
        #expect(TimeParser.parse("2026-03-14T08:12:00+02:00").map(BerlinTime.isoUTC) == "2026-03-14T06:12:00Z")
        #expect(TimeParser.parse("2026-02-30T08:12") == nil)
        #expect(TimeParser.parse("2026-03-14T25:00") == nil)
        #expect(TimeParser.parse("yesterday") == nil)
        #expect(TimeParser.parse("") == nil)
    }
}

@Suite struct PlateTests {
    @Test func normalisesGermanPlates() {
        #expect(Plate.normalise("KL-AB 123", country: "D") == "KL-AB 123")
        #expect(Plate.normalise("kl ab 123", country: "D") == "KL-AB 123")
        #expect(Plate.normalise("KL-AB123", country: "D") == "KL-AB 123")
        #expect(Plate.normalise("KL - AB - 123", country: "D") == "KL-AB 123")
        #expect(Plate.normalise("K-AB 1234E", country: "D") == "K-AB 1234E")
        #expect(Plate.normalise("KIB:AN 900", country: "D") == "KIB-AN 900")
        #expect(Plate.normalise("<script>", country: "D") == nil)
        #expect(Plate.normalise("", country: "D") == nil)
    }

    @Test func keepsForeignPlatesAsWritten() {
        #expect(Plate.normalise("AB-123-cd", country: "F") == "AB-123-cd")
        #expect(Plate.normalise("7ABC123", country: "USA") == "7ABC123")
    }

    @Test func masksAndKeys() {
        #expect(Plate.masked("KL-AB 123") == "KL-AB 1**")
        #expect(Plate.masked("K-X 9") == "K-X 9")
        #expect(Plate.key("kl-ab 123") == Plate.key("KL AB123"))
    }
}

@Suite struct ReferenceTests {
    @Test func rfVectorsFromTheSpec() {
        #expect(RFReference.make(from: "539007547034") == "RF18539007547034")
        #expect(RFReference.make(from: "2348231") == "RF712348231")
        #expect(RFReference.isValid("RF18539007547034"))
        #expect(RFReference.isValid("RF18 5390 0754 7034"))
        #expect(!RFReference.isValid("RF19539007547034"))
        #expect(RFReference.body("RF712348231") == "2348231")
    }

    @Test func rfFromCaseNumber() throws {
        let ref = try #require(RFReference.make(from: "KL-2026-0001234"))
        #expect(ref.hasSuffix("KL20260001234"))
        #expect(RFReference.isValid(ref))
        #expect(RFReference.make(from: String(repeating: "9", count: 22)) == nil)
    }

    @Test func ibanCheck() {
        #expect(IBAN.isValid("DE89370400440532013000"))
        #expect(IBAN.isValid("DE89 3704 0044 0532 0130 00"))
        #expect(!IBAN.isValid("DE88370400440532013000"))
    }

    @Test func caseNumbersFitTheReference() {
        let n = CaseNumber.make(prefix: "KLSTAD", year: 2026, sequence: 9_999_999)
        #expect(CaseNumber.compact(n).count <= 21)
        #expect(CaseNumber.make(prefix: "KL", year: 2026, sequence: 1234) == "KL-2026-0001234")
        #expect(!CaseNumber.isValidPrefix("KL-"))
    }
}

@Suite struct CatalogueTests {
    @Test func loadsTheShippedCatalogueWithItsSource() throws {
        let c = try Catalogue(contentsOf: TestSupport.cataloguePath)
        #expect(c.offences.count > 400)
        #expect(c["141312"]?.amountCents == 2500)
        #expect(c.source.contains { $0.contains("Kraftfahrt-Bundesamt") })
    }
}

@Suite struct ValidatorTests {
    let validator = TicketValidator(
        catalogue: Catalogue(offences: [
            Offence(tbnr: "141312", textDE: "Haltverbot", amountCents: 2500, points: 0),
            Offence(tbnr: "112071", textDE: "teuer", amountCents: 7000, points: 0),
        ])
    )

    func raw(_ edit: (inout RawTicket) -> Void = { _ in }) -> RawTicket {
        var r = RawTicket()
        r.sourceID = "HH-07/1"
        r.ticketNo = "1"
        r.deviceID = "HH-07"
        r.issuedAt = "2026-03-14T08:12"
        r.plate = "kl ab 123"
        r.tbnr = "141312"
        r.street = "Fackelstraße"
        r.city = "Kaiserslautern"
        edit(&r)
        return r
    }

    func reason(_ r: RawTicket) -> String? {
        if case .rejected(let why) = validator.validate(r) { return why }
        return nil
    }

    @Test func validTicketGetsCatalogueAmountAndDeadline() throws {
        guard case .valid(let t) = validator.validate(raw()) else {
            Issue.record("rejected")
            return
        }
        #expect(t.amountCents == 2500)
        #expect(t.plate == "KL-AB 123")
        #expect(t.deadline(paymentDays: 7).description == "2026-03-21")
    }

    @Test func eachRejectReason() {
        #expect(reason(raw { $0.tbnr = "999999" })?.contains("not in the offence catalogue") == true)
        #expect(reason(raw { $0.tbnr = "12AB" })?.contains("not 6 digits") == true)
        #expect(reason(raw { $0.tbnr = "112071" })?.contains("above the 55.00 EUR") == true)
        #expect(reason(raw { $0.amount = "30,00" })?.contains("differs from the catalogue") == true)
        #expect(reason(raw { $0.amount = "60,00" })?.contains("above the 55.00 EUR") == true)
        #expect(reason(raw { $0.amount = "zwanzig" })?.contains("is not an amount") == true)
        #expect(reason(raw { $0.issuedAt = "31.02.2026 08:00" })?.contains("not a date and time") == true)
        #expect(reason(raw { $0.plate = "<b>" })?.contains("not a valid German plate") == true)
        #expect(
            reason(
                raw {
                    $0.plate = nil
                    $0.city = " "
                }
            ) == "missing plate, city"
        )
        #expect(reason(raw { $0.lat = "91" })?.contains("latitude") == true)
        #expect(reason(raw { $0.qrPrinted = "maybe" })?.contains("qr_printed") == true)
        #expect(reason(raw { $0.amount = "25,00" }) == nil)
    }
}
