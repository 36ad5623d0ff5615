import Foundation
import GRDB
import LotseCore
import LotseImport
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

/// Imports real files into a real SQLite database.
final class ImportFixture {
    let dir = TestSupport.tempDir("lotse-import")
    let store: Store
    let importer: Importer
    var config = try! LotseConfig(environment: [:])  // an empty environment is valid

    init() throws {
        config.dataDir = dir
        store = try Store(path: dir + "/lotse.sqlite")
        importer = Importer(store: store, config: config, catalogue: try Catalogue(contentsOf: TestSupport.cataloguePath))
    }

    func file(_ name: String, _ text: String) -> String {
        let p = dir + "/" + name
        TestSupport.write(p, text)
        return p
    }

    func file(_ name: String, bytes: [UInt8]) -> String {
        let p = dir + "/" + name
        TestSupport.write(p, bytes: bytes)
        return p
    }

    func count(_ sql: String = "SELECT count(*) FROM cases") throws -> Int {
        try store.read { try Int.fetchOne($0, sql: sql) ?? 0 }
    }

    func cases() throws -> [CaseRecord] {
        try store.allCases()
    }

    func rejects(_ s: ImportSummary) throws -> [String] {
        guard let p = s.rejectsFile else { return [] }
        return try String(contentsOfFile: p, encoding: .utf8).split(separator: "\n").dropFirst().map(String.init)
    }
}

let header = "ticket_no;device_id;officer_id;issued_at;plate;plate_country;tbnr;amount_eur;street;house_no;place_note;zip;city;qr_printed"

@Suite struct CSVImportTests {
    @Test func importsTheShippedSampleAndIsIdempotent() throws {
        let f = try ImportFixture()
        let sample = TestSupport.pilotData + "/samples/handheld-HH-07-2026-03-14.csv"
        let first = try f.importer.importFile(sample)
        #expect(first.imported == 24 && first.duplicates == 0 && first.rejected == 0)
        #expect(first.line.hasSuffix(": imported 24, duplicates 0, rejected 0"))
        let again = try f.importer.importFile(sample)
        #expect(again.imported == 0 && again.duplicates == 24)
        #expect(try f.count() == 24)
        #expect(try f.count("SELECT count(*) FROM case_events WHERE kind = 'imported'") == 24)
        #expect(try f.count("SELECT count(*) FROM events") == 0)  // the import event is the case row
        let numbers = try f.cases().map(\.caseNumber)
        #expect(numbers.first == "KL-2026-0000001")
        #expect(Set(numbers).count == 24)
        #expect(numbers.allSatisfy { CaseNumber.compact($0).count <= 21 })
    }

    @Test func fieldsAreStoredNormalisedAndInUTC() throws {
        let f = try ImportFixture()
        let p = f.file(
            "one.csv",
            """
            TBNR;Ticket_No;DEVICE_ID;issued_at;plate;street;house_no;zip;city;extra_column
            141312;0004711;HH-07;14.03.2026 08:12;kl ab 123;Fackelstraße;12;67655;Kaiserslautern;ignored
            """
        )
        let s = try f.importer.importFile(p)
        #expect(s.imported == 1)
        let c = try #require(try f.cases().first)
        #expect(c.plate == "KL-AB 123")
        #expect(c.amountCents == 2500)
        #expect(BerlinTime.isoUTC(c.issuedAt) == "2026-03-14T07:12:00Z")
        #expect(c.deadline == "2026-03-21")
        #expect(c.sourceID == "HH-07/0004711")
        #expect(c.qrPrinted)
        #expect(c.offenceText.contains("Haltverbot"))
    }

    @Test func paymentDaysComeFromConfiguration() throws {
        let f = try ImportFixture()
        f.config.paymentDays = 14
        let importer = Importer(store: f.store, config: f.config, catalogue: f.importer.catalogue)
        _ = try importer.importFile(f.file("d.csv", header + "\n1;HH;;2026-03-14T08:12;KL-AB 1;D;141312;;Markt;;;;KL;1\n"))
        #expect(try f.cases().first?.deadline == "2026-03-28")
    }

    @Test func rejectsEachBadRowWithLineAndReasonAndKeepsTheRest() throws {
        let f = try ImportFixture()
        let p = f.file(
            "mixed.csv",
            [
                header,
                "1;HH-1;;2026-03-14T08:12;KL-AB 1;D;141312;25,00;Markt;1;;67655;Kaiserslautern;1",  // 2 ok
                "2;HH-1;;2026-03-14T08:12;KL-AB 2;D;999999;;Markt;1;;67655;Kaiserslautern;1",  // 3 unknown tbnr
                "3;HH-1;;2026-03-14T08:12;KL-AB 3;D;112071;;Markt;1;;67655;Kaiserslautern;1",  // 4 Bußgeld
                "4;HH-1;;2026-03-14T08:12;KL-AB 4;D;141312;30,00;Markt;1;;67655;Kaiserslautern;1",  // 5 amount differs
                "5;HH-1;;2026-13-14T08:12;KL-AB 5;D;141312;;Markt;1;;67655;Kaiserslautern;1",  // 6 bad time
                "6;HH-1;;2026-03-14T08:12;;D;141312;;Markt;1;;67655;Kaiserslautern;1",  // 7 no plate
                "7;HH-1;;2026-03-14T08:12;KL-AB 7;D;141312;;;1;;67655;;1",  // 8 no street, city
                ";HH-1;;2026-03-14T08:12;KL-AB 8;D;141312;;Markt;1;;67655;Kaiserslautern;1",  // 9 no ticket_no
                "9;HH-1;;2026-03-14T08:12;???;D;141312;;Markt;1;;67655;Kaiserslautern;1",  // 10 bad plate
                "10;HH-1;;2026-03-14T08:12;KL-AB 10;D;141312;;Markt;1;;67655;Kaiserslautern;0",  // 11 ok, control group
            ].joined(separator: "\n")
        )
        let s = try f.importer.importFile(p)
        #expect(s.imported == 2 && s.rejected == 8 && s.duplicates == 0)
        let rows = try f.rejects(s)
        #expect(rows.count == 8)
        let expected: [(String, String)] = [
            ("3;", "not in the offence catalogue"), ("4;", "above the 55.00 EUR"), ("5;", "differs from the catalogue"),
            ("6;", "not a date and time"), ("7;", "missing plate"), ("8;", "missing street, city"),
            ("9;", "missing ticket_no"), ("10;", "not a valid German plate"),
        ]
        for (row, (line, reason)) in zip(rows, expected) {
            #expect(row.hasPrefix(line), "\(row)")
            #expect(row.contains(reason), "\(row)")
        }
        // the raw row is kept
        #expect(rows[0].contains("999999"))
        #expect(try f.cases().last?.qrPrinted == false)
    }

    @Test func duplicateWithinOneFile() throws {
        let f = try ImportFixture()
        let row = "1;HH-1;;2026-03-14T08:12;KL-AB 1;D;141312;;Markt;1;;67655;Kaiserslautern;1"
        let s = try f.importer.importFile(f.file("dup.csv", header + "\n" + row + "\n" + row + "\n"))
        #expect(s.imported == 1 && s.duplicates == 1)
    }

    @Test func windows1252BOMAndCRLF() throws {
        let f = try ImportFixture()
        // "Fackelstraße" and "Gräfenau" in Windows-1252: ß = 0xDF, ä = 0xE4
        var bytes = Array((header + "\r\n").utf8)
        bytes +=
            Array("1;HH-1;;2026-03-14T08:12;KL-AB 1;D;141312;;Fackelstra".utf8) + [0xDF] + Array("e;1;;67655;Gr".utf8) + [0xE4]
            + Array("fenau;1\r\n".utf8)
        let s = try f.importer.importFile(f.file("cp1252.csv", bytes: bytes))
        #expect(s.imported == 1)
        let c = try #require(try f.cases().first)
        #expect(c.street == "Fackelstraße")
        #expect(c.city == "Gräfenau")

        let bom = [0xEF, 0xBB, 0xBF] + Array((header + "\r\n2;HH-1;;2026-03-14T08:12;KL-AB 2;D;141312;;Straße;1;;67655;Köln;1\r\n").utf8)
        let s2 = try f.importer.importFile(f.file("bom.csv", bytes: bom))
        #expect(s2.imported == 1)
        #expect(try f.cases().last?.city == "Köln")
    }

    @Test func hostileTextIsKeptVerbatim() throws {
        let f = try ImportFixture()
        let p = f.file(
            "hostile.csv",
            header + "\n"
                + "1;HH-1;;2026-03-14T08:12;<script>alert(1)</script>;F;141312;;\"<b>Markt\"\"str</b>; 'x'\";1;'bell';67655;Kaiser&lautern;1\n"
        )
        let s = try f.importer.importFile(p)
        #expect(s.imported == 1)
        let c = try #require(try f.cases().first)
        #expect(c.plate == "<script>alert(1)</script>")
        #expect(c.street == "<b>Markt\"str</b>; 'x'")
        #expect(c.placeNote == "'bell'")
        #expect(c.city == "Kaiser&lautern")
    }

    @Test func headerWithoutRequiredColumnsFailsWholeFile() throws {
        let f = try ImportFixture()
        let p = f.file("bad-header.csv", "ticket_no;plate;street\n1;KL-AB 1;Markt\n")
        #expect {
            try f.importer.importFile(p)
        } throws: { e in
            "\(e)".contains("bad-header.csv:1: header lacks the required columns device_id, issued_at, tbnr, city")
        }
        #expect(try f.count() == 0)
        #expect(try f.count("SELECT count(*) FROM imports") == 0)
    }

    @Test func emptyBinaryAndUnknownFilesFailClearly() throws {
        let f = try ImportFixture()
        let cases: [(String, [UInt8], String)] = [
            ("empty.csv", [], "the file is empty"),
            ("blank.csv", Array("  \n\n".utf8), "the file is empty"),
            ("junk.bin", [0x7F, 0x45, 0x4C, 0x46, 0x00, 0x01, 0xFF, 0x00], "binary data"),
            ("notes.txt", Array("Dear office,\nplease import this.\n".utf8), "unknown format"),
            ("other.xml", Array("<?xml version=\"1.0\"?><Rechnung/>".utf8), "root element 'Rechnung'"),
        ]
        for (name, bytes, message) in cases {
            let p = f.file(name, bytes: bytes)
            #expect { try f.importer.importFile(p) } throws: { e in
                let text = "\(e)"
                return text.contains(name) && text.contains(message) && !text.contains("\n")
            }
        }
        #expect(try f.count() == 0)
    }
}

@Suite struct XMLImportTests {
    @Test func winowigSample() throws {
        let f = try ImportFixture()
        let s = try f.importer.importFile(TestSupport.pilotData + "/samples/winowig-mde-2026-03-15.xml")
        #expect(s.format == "winowig-mde")
        #expect(s.imported == 12 && s.rejected == 0)
        let c = try #require(try f.cases().first)
        #expect(c.city == "Kaiserslautern")
        #expect(c.zip == "67655")
        #expect(c.officerID == "Weber")
        #expect(c.ticketNo == nil)
        #expect(BerlinTime.local(c.issuedAt).date.description == "2026-03-15")
        let again = try f.importer.importFile(TestSupport.pilotData + "/samples/winowig-mde-2026-03-15.xml")
        #expect(again.duplicates == 12 && again.imported == 0)
    }

    @Test func xowiSample() throws {
        let f = try ImportFixture()
        let s = try f.importer.importFile(TestSupport.pilotData + "/samples/xowi-2026-03-16.xml")
        #expect(s.format == "xowi")
        #expect(s.imported == 12 && s.rejected == 0)
        let c = try #require(try f.cases().first)
        #expect(c.sourceID.hasPrefix("XO/6f1c2d3e-"))
        #expect(c.city == "Kaiserslautern")
        #expect(try f.importer.importFile(TestSupport.pilotData + "/samples/xowi-2026-03-16.xml").duplicates == 12)
    }

    @Test func xmlRejectsCarryRecordAndLine() throws {
        let f = try ImportFixture()
        let p = f.file(
            "x.xml",
            """
            <?xml version="1.0" encoding="UTF-8"?>
            <Datenstrom xmlns="http://www.owi21.de"><Bestaende><Hinzufuegen>
            <Bestand GMK="07312000" GUID="g1" Gemarkung="Kaiserslautern" Tatort="Markt 1, 67655 Kaiserslautern" Tattag="2026-03-16" Tatzeit="09:00" KFZ_Kennzeichen="KL-AB 1"><Tatbestand TBNr="141312"/></Bestand>
            <Bestand GMK="07312000" GUID="g2" Gemarkung="Kaiserslautern" Tatort="Markt 1, 67655 Kaiserslautern" Tattag="2026-03-16" Tatzeit="09:00" KFZ_Kennzeichen="KL-AB 2"><Tatbestand TBNr="000000"/></Bestand>
            <Bestand GMK="07312000" Gemarkung="Kaiserslautern" Tatort="Markt 1, 67655 Kaiserslautern" Tattag="2026-03-16" Tatzeit="09:00" KFZ_Kennzeichen="KL-AB 3"><Tatbestand TBNr="141312"/></Bestand>
            </Hinzufuegen></Bestaende></Datenstrom>
            """
        )
        let s = try f.importer.importFile(p)
        #expect(s.imported == 1 && s.rejected == 2)
        let rows = try f.rejects(s)
        #expect(rows[0].hasPrefix("4;") && rows[0].contains("not in the offence catalogue") && rows[0].contains("record 2"))
        #expect(rows[1].hasPrefix("5;") && rows[1].contains("missing"))
    }

    @Test func truncatedXMLChangesNothing() throws {
        let f = try ImportFixture()
        let full = try String(contentsOfFile: TestSupport.pilotData + "/samples/winowig-mde-2026-03-15.xml", encoding: .utf8)
        let p = f.file("truncated.xml", String(full.prefix(full.count * 2 / 3)))
        #expect { try f.importer.importFile(p) } throws: { e in
            let t = "\(e)"
            return t.contains("truncated.xml:") && t.contains("not well-formed")
        }
        #expect(try f.count() == 0)
        #expect(try f.count("SELECT count(*) FROM imports") == 0)
    }

    @Test func aFailedImportLeavesNoRejectsFile() throws {
        let f = try ImportFixture()
        // the first record is rejected (unknown offence) before the file turns out to be cut short
        let full = try String(contentsOfFile: TestSupport.pilotData + "/samples/xowi-2026-03-16.xml", encoding: .utf8)
            .replacingOccurrences(of: "TBNr=\"141118\"", with: "TBNr=\"999999\"")
        let p = f.file("cut.xml", String(full.prefix(full.count * 2 / 3)))
        #expect(throws: (any Error).self) { try f.importer.importFile(p) }
        #expect(try f.count() == 0)
        let rejects = (try? FileManager.default.contentsOfDirectory(atPath: f.dir + "/rejects")) ?? []
        #expect(rejects.isEmpty, "\(rejects)")
    }

    @Test func formatIsDetectedFromContentNotName() throws {
        let f = try ImportFixture()
        let xml = try String(contentsOfFile: TestSupport.pilotData + "/samples/xowi-2026-03-16.xml", encoding: .utf8)
        let s = try f.importer.importFile(f.file("export.csv", xml))
        #expect(s.format == "xowi" && s.imported == 12)
    }
}

@Suite struct PaymentsImportTests {
    @Test func importsCashPaymentsWithRejectsAndDuplicates() throws {
        let f = try ImportFixture()
        _ = try f.importer.importFile(TestSupport.pilotData + "/samples/handheld-HH-07-2026-03-14.csv")
        let cs = try f.cases()
        let payments = PaymentsImporter(store: f.store, config: f.config)
        let number1 = cs[1].caseNumber.lowercased().replacingOccurrences(of: "-", with: "")
        let csv = """
            Case_Number;amount_eur;paid_on;channel;receipt_no
            \(cs[0].caseNumber);\(Money.plain(cs[0].amountCents).replacingOccurrences(of: ".", with: ","));2026-03-16;cash;K-1
            \(number1);\(Money.plain(cs[1].amountCents));17.03.2026;;K-2
            \(cs[2].caseNumber);5,00;2026-03-17;cash;K-3
            KL-2026-9999999;25,00;2026-03-17;cash;K-4
            \(cs[3].caseNumber);zehn;2026-03-17;cash;K-5
            \(cs[3].caseNumber);10,00;2026-02-30;cash;K-6
            \(cs[3].caseNumber);10,00;2026-03-17;bitcoin;K-7
            \(cs[0].caseNumber);\(Money.plain(cs[0].amountCents));2026-03-18;cash;K-8

            """
        let path = f.file("kasse.csv", csv)
        let s = try payments.importFile(path)
        #expect(s.line == "\(path): recorded 4, duplicates 0, rejected 4")
        #expect(s.paid == 2 && s.partial == 1 && s.refunds == 1)
        let rejects = try String(contentsOfFile: s.rejectsFile!, encoding: .utf8).split(separator: "\n").dropFirst().map(String.init)
        #expect(rejects.map { $0.split(separator: ";").first.map(String.init) ?? "" } == ["5", "6", "7", "8"])
        #expect(rejects[0].contains("case KL-2026-9999999 does not exist"))
        #expect(rejects[2].contains("is not a date"))
        #expect(rejects[3].contains("channel 'bitcoin'"))
        let c0 = try f.store.read { try CaseQueries.byID($0, cs[0].id)! }
        #expect(c0.status == .paid && c0.paidChannel == .cash)
        #expect(try f.store.read { try CaseQueries.byID($0, cs[2].id)!.status } == .open)
        // Again: all duplicates, nothing new.
        let again = try payments.importFile(path)
        #expect(again.recorded == 0 && again.duplicates == 4 && again.rejected == 4)
        #expect(try f.count("SELECT count(*) FROM payments") == 4)
        // A header without the needed columns is one clear error, and nothing changes.
        let bad = f.file("bad.csv", "case;betrag\nKL-2026-0000001;25,00\n")
        #expect { try payments.importFile(bad) } throws: { e in
            "\(e)".hasPrefix(bad + ":1: header lacks the required columns case_number, amount_eur, paid_on")
        }
    }
}
