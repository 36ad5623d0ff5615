import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LotseCore
import LotseImport
@_spi(Testing) import LotseStorage
import LotseTestSupport
import LotseWeb
import Testing

/// The warden's photos on the case page (issue 16): shown to the holder of the case's token, served from outside any web
/// root, never to a forged token, and none on a case that has none.
@Suite struct EvidencePageTests {
    @Test func theHolderOfTheTokenSeesTheWardensPhotos() async throws {
        let f = try await WebFixture()
        let csv = """
            ticket_no;device_id;issued_at;plate;tbnr;street;city;photos
            0005001;HH-07;2026-03-14T09:00;KL-CD 7;141312;Marktstraße;Kaiserslautern;front.jpg|plate.png

            """
        let zip = f.dir + "/upload.zip"
        try TestSupport.zip(zip, [("export.csv", Array(csv.utf8)), ("front.jpg", TestSupport.jpegWithExif), ("plate.png", TestSupport.pngWithText)])
        let summary = try Importer(store: f.store, config: f.config, catalogue: try Catalogue(contentsOf: TestSupport.cataloguePath))
            .importFile(zip, displayName: "upload.zip")
        #expect(summary.photos == 2)
        let number = try #require(try f.store.read { try String.fetchOne($0, sql: "SELECT case_number FROM cases WHERE ticket_no = '0005001'") })
        let token = try f.token(number)
        let stored = try f.store.read { try String.fetchAll($0, sql: "SELECT file FROM evidence ORDER BY number") }
        let jpeg = try #require(FileManager.default.contents(atPath: f.dir + "/evidence/" + stored[0]))
        let other = try f.token("KL-2026-0000001")
        try await f.test { client in
            let page = try await client.execute(uri: "/T/\(token)?lang=en", method: .get)
            #expect(page.status == .ok)
            #expect(page.text.contains("<h2>Photos from the check</h2>"))
            #expect(page.text.contains("<img src=\"/T/\(token)/photo/1\" alt=\"Photo 1 from the check\" loading=\"lazy\""))
            #expect(page.text.contains("/T/\(token)/photo/2"))
            #expect(!page.text.contains("/photo/3"))
            let german = try await client.execute(uri: "/T/\(token)?lang=de", method: .get)
            #expect(german.text.contains("alt=\"Foto 2 der Kontrolle\""))

            let first = try await client.execute(uri: "/T/\(token)/photo/1", method: .get)
            #expect(first.status == .ok && first.headers[.contentType] == "image/jpeg")
            #expect([UInt8](first.body.readableBytesView) == [UInt8](jpeg))
            #expect(first.headers[.cacheControl] == "no-store")  // the plate is personal data, as the page
            let second = try await client.execute(uri: "/t/\(token.lowercased())/photo/2", method: .get)
            #expect(second.status == .ok && second.headers[.contentType] == "image/png")
            // nothing beyond the photos the case has, nothing for a forged token or another case
            for path in ["/T/\(token)/photo/3", "/T/\(token)/photo/0", "/T/\(token)/photo/x", "/T/\(other)/photo/1"] {
                #expect(try await client.execute(uri: path, method: .get).status == .notFound, "\(path)")
            }
            var forged = Array(token)
            forged[5] = forged[5] == "A" ? "B" : "A"
            #expect(try await client.execute(uri: "/T/\(String(forged))/photo/1", method: .get).status == .notFound)
            // a case without photos shows no such part
            let plain = try await client.execute(uri: "/T/\(other)?lang=en", method: .get)
            #expect(!plain.text.contains("class=\"evidence\"") && !plain.text.contains("/photo/"))
        }
    }
}
