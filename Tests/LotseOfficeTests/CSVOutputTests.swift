import Foundation
import LotseCore
import LotseImport
import LotseOffice
@_spi(Testing) import LotseStorage
import LotseTestSupport
import LotseTokens
import Testing

/// Issue 12: values from a handheld export that a spreadsheet would run as formulas (`=`, `+`, `-`, `@`, tab, CR
/// at the start) reach the reminder list and the QR manifest as text, through the one CSV writer.
@Suite struct CSVOutputTests {
    func fixture() throws -> (String, Store) {
        let dir = TestSupport.tempDir("lotse-csv-out")
        var config = try LotseConfig(environment: [:])
        config.dataDir = dir
        let store = try Store(path: dir + "/lotse.sqlite")
        let csv = dir + "/hostile.csv"
        TestSupport.write(
            csv,
            """
            ticket_no;device_id;issued_at;plate;plate_country;tbnr;street;city
            =1+1;HH-1;2026-03-14T08:00;KL-AB 1;D;141312;Markt;Kaiserslautern
            @SUM(A1);HH-1;2026-03-14T08:00;KL-AB 2;D;141312;Markt;Kaiserslautern
            +49;HH-1;2026-03-14T08:00;KL-AB 3;D;141312;Markt;Kaiserslautern
            -5;HH-1;2026-03-14T08:00;=HYPERLINK("http://x");F;141312;Markt;Kaiserslautern
            "a\rb";HH-1;2026-03-14T08:00;KL-AB 5;D;141312;Markt;Kaiserslautern
            "x;y";HH-1;2026-03-14T08:00;KL-AB 6;D;141312;Markt;Kaiserslautern

            """
        )
        let s = try Importer(store: store, config: config, catalogue: try Catalogue(contentsOf: TestSupport.cataloguePath)).importFile(csv)
        #expect(s.imported == 6, "\(s.line)")
        return (dir, store)
    }

    @Test func reminderListNeutralisesFormulas() throws {
        let (dir, store) = try fixture()
        let out = dir + "/reminders.csv"
        let d = CivilDate(iso: "2026-04-30")!
        let summary = try Dunning.run(store: store, asOf: d, graceDays: 5, at: BerlinTime.utc(date: d, hour: 6, minute: 0), out: out)
        #expect(summary.reminded == 6)
        let text = try String(contentsOfFile: out, encoding: .utf8)
        #expect(text.contains(";'=1+1;KL-AB 1;"), "\(text)")
        #expect(text.contains(";'@SUM(A1);"), "\(text)")
        #expect(text.contains(";'+49;"), "\(text)")
        #expect(text.contains(";'-5;\"'=HYPERLINK(\"\"http://x\"\")\";"), "\(text)")
        #expect(text.contains(";\"a\rb\";"), "\(text)")
        #expect(text.contains(";\"x;y\";"), "\(text)")
        #expect(text.contains(";25,00;2026-03-21\n"), "amounts are written as before: \(text)")
    }

    @Test func manifestNeutralisesFormulasAndQuotesCR() throws {
        let (dir, store) = try fixture()
        let batch = QRBatch(store: store, tokens: CaseTokens(ring: try KeyRing.loadOrCreate(dataDir: dir)), baseURL: "http://127.0.0.1:8080")
        let r = try batch.write(caseNumbers: [], outDir: dir + "/qr", format: .svg)
        #expect(r.written == 6)
        let text = try String(contentsOfFile: r.manifest, encoding: .utf8)
        let rows = text.split(separator: "\n").dropFirst().map(String.init)
        #expect(rows.count == 6)
        let tickets = rows.map { $0.split(separator: ";", maxSplits: 1)[1].split(separator: ";")[0] }
        #expect(tickets[0] == "'=1+1" && tickets[1] == "'@SUM(A1)" && tickets[2] == "'+49" && tickets[3] == "'-5", "\(text)")
        #expect(rows[4].contains(";\"a\rb\";"), "\(rows[4])")
        #expect(rows[5].contains(";\"x;y\";"), "\(rows[5])")
        #expect(rows.allSatisfy { $0.hasPrefix("KL-2026-") && $0.hasSuffix(".svg") })
    }
}
