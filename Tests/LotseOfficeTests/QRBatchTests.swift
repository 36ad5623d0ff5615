import Foundation
import LotseCore
import LotseImport
import LotseOffice
@_spi(Testing) import LotseStorage
import LotseTestSupport
import LotseTokens
import Testing

@Suite struct QRBatchTests {
    func setUp() throws -> (Store, CaseTokens, String) {
        let dir = TestSupport.tempDir("lotse-qr")
        var config = try LotseConfig(environment: [:])
        config.dataDir = dir
        let store = try Store(path: dir + "/lotse.sqlite")
        let importer = Importer(store: store, config: config, catalogue: try Catalogue(contentsOf: TestSupport.cataloguePath))
        _ = try importer.importFile(TestSupport.pilotData + "/samples/xowi-2026-03-16.xml")
        return (store, CaseTokens(ring: try KeyRing.loadOrCreate(dataDir: dir)), dir)
    }

    func manifest(_ path: String) throws -> [[String]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            $0.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
        }
    }

    @Test func pngCodesDecodeToTheManifestURLs() throws {
        let (store, tokens, dir) = try setUp()
        let batch = QRBatch(store: store, tokens: tokens, baseURL: "https://bussgeld.example-city.de")
        let out = dir + "/png"
        let r = try batch.write(caseNumbers: [], outDir: out, format: .png)
        #expect(r.written == 12)
        let rows = try manifest(r.manifest)
        #expect(rows[0] == ["case_number", "ticket_no", "url", "file"])
        #expect(rows.count == 13)
        for row in rows.dropFirst() {
            #expect(row[2].hasPrefix("HTTPS://BUSSGELD.EXAMPLE-CITY.DE/T/"))
            let decoded = try TestSupport.zbarimg(out + "/" + row[3])
            #expect(decoded == [row[2]], "\(row[0])")
            // the token in the URL verifies to this case
            let token = String(row[2].split(separator: "/").last!)
            let id = try #require(tokens.verify(token))
            let c = try store.read { try CaseQueries.byID($0, id) }
            #expect(c?.caseNumber == row[0])
        }
        // everything is printed now: a second run writes nothing new
        #expect(try batch.write(caseNumbers: [], outDir: dir + "/again", format: .svg).written == 0)
        // but named cases can be printed again
        let named = try batch.write(caseNumbers: [rows[1][0]], outDir: dir + "/named", format: .svg)
        #expect(named.written == 1)
        let svg = try String(contentsOfFile: dir + "/named/" + rows[1][0] + ".svg", encoding: .utf8)
        #expect(svg.hasPrefix("<?xml") && svg.contains("<path"))
    }

    @Test func unknownCaseNumberFails() throws {
        let (store, tokens, dir) = try setUp()
        let batch = QRBatch(store: store, tokens: tokens, baseURL: "http://127.0.0.1:8080")
        #expect(throws: LotseError.self) { try batch.write(caseNumbers: ["KL-2026-9999999"], outDir: dir + "/x", format: .svg) }
    }
}
