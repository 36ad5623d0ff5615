import Foundation
import LotseHTTP
import LotseTestSupport
import Testing

/// Issue 14 through the binary: enrolment, generations, revocation and stock codes that a real server answers.
@Suite struct DevicesCLITests {
    @Test func enrolRevokeAndPrintStockThatTheServerAnswers() async throws {
        let dir = TestSupport.tempDir("lotse-devices")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = TestSupport.freePort()
        let base = "http://127.0.0.1:\(port)"
        let env = ["LOTSE_DATA_DIR": dir, "LOTSE_PILOT_DATA": TestSupport.pilotData, "LOTSE_PUBLIC_BASE_URL": base]
        let added = try TestSupport.lotse(["devices", "add", "HH-07", "--out", dir + "/hh07.json"], dataDir: dir, env: env)
        #expect(added.status == 0 && added.stdout.contains("device 1, generation 1"), "\(added.stderr)")
        let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/hh07.json")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let file = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/hh07.json"))) as! [String: Any]
        #expect(file["device_id"] as? String == "HH-07" && file["number"] as? Int == 1 && file["generation"] as? Int == 1)
        #expect(file["base_url"] as? String == base.uppercased())
        #expect((file["key"] as? String).flatMap { Data(base64Encoded: $0) }?.count == 32)
        // an enrolled device again: refused; a second device: the next number; a bad id: usage error
        #expect(try TestSupport.lotse(["devices", "add", "HH-07"], dataDir: dir, env: env).status == 1)
        #expect(try TestSupport.lotse(["devices", "add", "HH-08"], dataDir: dir, env: env).stdout.contains("device 2, generation 1"))
        #expect(try TestSupport.lotse(["devices", "add", "TOO-LONG-ID-1"], dataDir: dir, env: env).status == 2)
        // revoked and enrolled again: the same number, the next generation, a new key
        #expect(try TestSupport.lotse(["devices", "revoke", "HH-08"], dataDir: dir, env: env).status == 0)
        let again = try TestSupport.lotse(["devices", "add", "HH-08", "--out", dir + "/hh08-g2.json"], dataDir: dir, env: env)
        #expect(again.stdout.contains("device 2, generation 2"))
        let list = try TestSupport.lotse(["devices", "list"], dataDir: dir, env: env).stdout
        #expect(list.split(separator: "\n").count == 3 && list.contains("generation 1, key 1, enrolled") && list.contains("revoked"))
        #expect(!list.contains(file["key"] as! String))

        let stock = try TestSupport.lotse(
            ["qr", "--stock", "HH-07", "--from", "5000", "--count", "3", "--out", dir + "/stock", "--format", "png"],
            dataDir: dir,
            env: env
        )
        #expect(stock.status == 0, "\(stock.stderr)")
        let manifest = try String(contentsOfFile: dir + "/stock/manifest.csv", encoding: .utf8).split(separator: "\n")
        #expect(manifest.first == "ticket_no;url;file" && manifest.count == 4)
        let row = manifest[2].split(separator: ";").map(String.init)
        #expect(row[0] == "5001" && row[2] == "HH07-5001.png")
        #expect(try TestSupport.zbarimg(dir + "/stock/" + row[2]) == [row[1]])
        #expect(
            try TestSupport.lotse(["qr", "--stock", "HH-09", "--from", "1", "--count", "1", "--out", dir + "/x"], dataDir: dir, env: env).status == 1
        )

        let server = try TestSupport.startServer(TestSupport.lotse, ["serve", "--port", String(port)], env: env, log: dir + "/serve.log")
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        let up = TestSupport.waitUntilServing(base)
        #expect(up)
        // the scanned URL (upper case, as printed) reaches the page of the stock ticket: number, no amount yet
        let page = try await CurlClient().send(OutboundRequest(url: row[1], headers: [("Accept-Language", "de")]))
        #expect(page.status == 200)
        let text = String(decoding: page.body, as: UTF8.self)
        #expect(text.contains("5001") && text.contains("HH-07") && text.contains("nach der nächsten Übernahme"))
        // after revocation, stock codes of the revoked generation whose ticket was never imported are refused
        #expect(try TestSupport.lotse(["devices", "revoke", "HH-07"], dataDir: dir, env: env).status == 0)
        let refused = try await CurlClient().send(OutboundRequest(url: row[1]))
        #expect(refused.status == 404)
    }
}
