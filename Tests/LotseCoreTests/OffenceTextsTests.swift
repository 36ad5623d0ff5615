import Foundation
import LotseCore
import LotseTestSupport
import Testing

/// The offence texts a motorist reads (issue 16): the catalogue's German without its form markers, and translations.
@Suite struct OffenceTextsTests {
    @Test func theCataloguesMarkersAndSlashesAreReadable() {
        #expect(
            OffenceTexts.cleaned(
                "Sie parkten verbotswidrig auf der linken Fahrbahnseite/dem linken Seitenstreifen *) und behinderten +) dadurch Andere."
            )
                == "Sie parkten verbotswidrig auf der linken Fahrbahnseite oder dem linken Seitenstreifen und behinderten dadurch Andere."
        )
        #expect(OffenceTexts.cleaned("Sie parkten an einer abgelaufenen Parkuhr - *).") == "Sie parkten an einer abgelaufenen Parkuhr.")
        #expect(OffenceTexts.cleaned("Sie parkten bei Zeichen 314/315 *), ohne …") == "Sie parkten bei Zeichen 314/315, ohne …")
        #expect(
            OffenceTexts.cleaned("obwohl Ihr Fahrzeug mehr als 2,8 t zulässige Gesamtmasse hat, +).")
                == "obwohl Ihr Fahrzeug mehr als 2,8 t zulässige Gesamtmasse hat."
        )
        #expect(OffenceTexts.cleaned("auf einem Geh- und Radweg (Zeichen 240/ 241*))") == "auf einem Geh- und Radweg (Zeichen 240/ 241)")
    }

    /// Every line of the shipped catalogue cleans to a sentence without markers; every English text names a TBNR of
    /// the catalogue, once.
    @Test func theShippedTextsAreClean() throws {
        let catalogue = try Catalogue(contentsOf: TestSupport.cataloguePath)
        for (tbnr, offence) in catalogue.offences {
            let text = OffenceTexts.cleaned(offence.textDE)
            #expect(!text.contains("*)") && !text.contains("+)") && !text.contains("  ") && !text.contains(",."), "\(tbnr): \(text)")
        }
        let texts = try OffenceTexts(folder: (TestSupport.cataloguePath as NSString).deletingLastPathComponent)
        let english = try #require(texts.translations["en"])
        // English for every TBNR of the catalogue, and for nothing else; each a sentence without the form's markers
        #expect(Set(english.keys) == Set(catalogue.offences.keys))
        for (tbnr, text) in english {
            #expect(!text.contains(")") || text.contains("("), "\(tbnr): \(text)")
            #expect(text.hasSuffix(".") && !text.contains("*") && !text.contains("+)") && !text.contains("/ "), "\(tbnr): \(text)")
        }
        let shown = texts.display(tbnr: "141312", german: catalogue.offences["141312"]!.textDE, lang: "en")
        #expect(shown == ("You parked where stopping is prohibited (sign 283).", "en", false))
        // a language without a text for the TBNR shows the cleaned German, marked
        let missing = texts.display(tbnr: "112020", german: catalogue.offences["112020"]!.textDE, lang: "tr")
        #expect(missing.lang == "de" && missing.fallback && missing.text == "Sie parkten vorschriftswidrig auf dem Seitenstreifen.")
        #expect(texts.display(tbnr: "141312", german: "Sie parkten im absoluten Haltverbot (Zeichen 283).", lang: "de").fallback == false)
    }

    @Test func aBrokenTranslationFileNamesItsLine() throws {
        let dir = TestSupport.tempDir("lotse-offences")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        TestSupport.write(dir + "/offences.en.csv", "tbnr;text\n141312;You parked.\n14131;Too short\n")
        do {
            _ = try OffenceTexts(folder: dir)
            Issue.record("a broken line was taken")
        } catch {
            #expect("\(error)" == dir + "/offences.en.csv:3: expected tbnr;text (six digits, then the text)")
        }
    }
}
