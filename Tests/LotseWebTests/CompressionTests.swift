import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LotseTestSupport
import NIOCore
import Testing

@testable import LotseWeb

/// Pages and the stylesheet are gzip-compressed when the client accepts it (issue 16), through the router and the
/// case page's fast path alike; others get them as they are.
@Suite struct CompressionTests {
    func gunzip(_ body: ByteBuffer) throws -> String {
        let path = TestSupport.tempDir("lotse-gzip") + "/body.gz"
        TestSupport.write(path, bytes: Array(buffer: body))
        let out = try TestSupport.run("/bin/gzip", ["-dc", path])
        #expect(out.status == 0, "\(out.stderr)")
        return out.stdout
    }

    @Test func acceptedEncodingsAreRead() {
        func accepts(_ value: String?) -> Bool {
            var fields: HTTPFields = [:]
            if let value { fields[.acceptEncoding] = value }
            return Gzip.accepted(fields)
        }
        #expect(accepts("gzip, deflate, br") && accepts("br;q=1.0, gzip;q=0.8") && accepts("*") && accepts("GZIP"))
        #expect(!accepts(nil) && !accepts("br") && !accepts("gzip;q=0") && !accepts("identity") && !accepts("gzipped"))
    }

    @Test func pagesAndTheStylesheetAreCompressedWhenAccepted() async throws {
        let f = try await WebFixture()
        let token = try f.token("KL-2026-0000001")
        try await f.test { client in
            let gzip: HTTPFields = [.acceptEncoding: "gzip, deflate, br", .acceptLanguage: "en"]
            // twice: the first answer fills the case cache (router), the second comes from the fast path
            for round in 1...2 {
                let page = try await client.execute(uri: "/T/\(token)", method: .get, headers: gzip)
                #expect(page.headers[.contentEncoding] == "gzip" && page.headers[.vary]?.contains("Accept-Encoding") == true, "round \(round)")
                #expect(Int(page.headers[.contentLength] ?? "") == page.body.readableBytes)
                let html = try gunzip(page.body)
                #expect(html.hasPrefix("<!DOCTYPE html>") && html.contains("KL-2026-0000001") && html.hasSuffix("</html>\n"), "round \(round)")
                #expect(page.body.readableBytes * 5 < html.utf8.count * 3, "compressed \(page.body.readableBytes) of \(html.utf8.count)")
            }
            let plain = try await client.execute(uri: "/T/\(token)", method: .get, headers: [.acceptLanguage: "en"])
            #expect(plain.headers[.contentEncoding] == nil && plain.text.contains("KL-2026-0000001"))
            let refused = try await client.execute(uri: "/?lang=en", method: .get, headers: [.acceptEncoding: "gzip;q=0"])
            #expect(refused.headers[.contentEncoding] == nil && refused.text.hasPrefix("<!DOCTYPE html>"))
            let start = try await client.execute(uri: "/?lang=en", method: .get, headers: gzip)
            let startHTML = try gunzip(start.body)
            #expect(start.headers[.contentEncoding] == "gzip" && startHTML.contains("<form"))

            let css = try await client.execute(uri: "/style.css", method: .get, headers: gzip)
            let original = try String(contentsOfFile: TestSupport.root + "/public/style.css", encoding: .utf8)
            #expect(css.status == .ok && css.headers[.contentEncoding] == "gzip" && css.headers[.contentType]?.hasPrefix("text/css") == true)
            let cssText = try gunzip(css.body)
            #expect(cssText == original)
            let etag = try #require(css.headers[.eTag])
            #expect(css.headers[.cacheControl]?.contains("max-age=86400") == true)
            let again = try await client.execute(uri: "/style.css", method: .get, headers: gzip + [HTTPField(name: .ifNoneMatch, value: etag)])
            #expect(again.status == .notModified && again.body.readableBytes == 0)
            let unzipped = try await client.execute(uri: "/style.css", method: .get)
            #expect(unzipped.headers[.contentEncoding] == nil && unzipped.text == original)
        }
    }
}
