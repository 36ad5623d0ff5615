import Foundation
import LotseHTTP
import LotseTestSupport
import Testing

/// The reference handheld (`lotse-handheld`, issue 14) through its binary, with a key file from the real `lotse`.
@Suite struct LotseHandheldTests {
    /// A data directory with HH-07 enrolled; the key file's path.
    struct Shift {
        var dir: String
        var base: String
        var env: [String: String]
        var keyFile: String { dir + "/hh07.json" }

        init(port: Int = TestSupport.freePort()) throws {
            dir = TestSupport.tempDir("lotse-handheld")
            base = "http://127.0.0.1:\(port)"
            env = ["LOTSE_DATA_DIR": dir, "LOTSE_PILOT_DATA": TestSupport.pilotData, "LOTSE_PUBLIC_BASE_URL": base]
            let added = try TestSupport.lotse(["devices", "add", "HH-07", "--out", keyFile], dataDir: dir, env: env)
            guard added.status == 0 else { throw LotseTestFailure(message: "devices add: \(added.stderr)") }
        }

        /// `lotse serve` on the shift's data directory and port, answering `/healthz`.
        func serve() throws -> Process {
            let server = try TestSupport.startServer(
                TestSupport.lotse,
                ["serve", "--port", String(base.split(separator: ":").last!)],
                env: env,
                log: dir + "/serve.log"
            )
            guard TestSupport.waitUntilServing(base) else {
                stop(server)
                throw LotseTestFailure(message: "lotse serve did not come up; log in \(dir)/serve.log")
            }
            return server
        }

        func stop(_ server: Process) {
            server.terminate()
            server.waitUntilExit()
        }

        /// `lotse-handheld issue` for ticket `number` with the usual fields and `extra` options.
        func issue(_ number: String, _ extra: [String] = []) throws -> TestSupport.Output {
            var args = ["issue", "--key", keyFile, "--ticket", number, "--plate", "KL-AB 123", "--tbnr", "141312"]
            args += ["--street", "Fackelstraße", "--house-no", "12", "--zip", "67655", "--city", "Kaiserslautern"]
            args += ["--catalogue", TestSupport.cataloguePath] + extra
            return try TestSupport.run(TestSupport.lotseHandheld, args)
        }
    }

    struct LotseTestFailure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    @Test func thePrintedCodeIsThePrintedURLAndReachesThePendingPage() async throws {
        let shift = try Shift()
        defer { try? FileManager.default.removeItem(atPath: shift.dir) }
        let png = shift.dir + "/ticket.png"
        let issued = try shift.issue("0004711", ["--png", png, "--officer", "DN 1234"])
        #expect(issued.status == 0, "\(issued.stderr)")
        let url = issued.stdout.trimmingCharacters(in: .newlines)
        #expect(!url.contains("\n") && url.hasPrefix(shift.base.uppercased() + "/T/") && url.count == shift.base.count + 3 + 55)
        // the QR code on the printed ticket, read by an independent decoder, is the URL
        #expect(try TestSupport.zbarimg(png) == [url])
        // 58 mm thermal paper: 384 dots wide
        let header = try Array(Data(contentsOf: URL(fileURLWithPath: png)).prefix(24))
        #expect(Array(header[16..<20]) == [0, 0, 1, 128])

        let server = try shift.serve()
        defer { shift.stop(server) }
        // before any import the scanned URL shows what the token signs
        let page = try await CurlClient().send(OutboundRequest(url: url, headers: [("Accept-Language", "en")]))
        #expect(page.status == 200)
        #expect(page.text.contains("4711") && page.text.contains("HH-07") && page.text.contains("25.00"))
        #expect(page.text.contains("The full record follows"))
        // one bit of the token's MAC changed: the plain 404
        var characters = Array(url)
        characters[characters.count - 10] = characters[characters.count - 10] == "A" ? "B" : "A"
        let altered = String(characters)
        #expect(try await CurlClient().send(OutboundRequest(url: altered)).status == 404)
    }

    @Test func theExportRowImportsAndTheHeaderIsWrittenOnce() throws {
        let shift = try Shift()
        defer { try? FileManager.default.removeItem(atPath: shift.dir) }
        let export = shift.dir + "/shift.csv"
        let at = ["--at", "2026-03-14T09:30", "--export", export]
        #expect(try shift.issue("0004711", at + ["--officer", "DN 1234", "--amount-eur", "25,00"]).status == 0)
        #expect(try shift.issue("0004711", at + ["--officer", "DN 1234"]).status == 0)
        let lines = try String(contentsOfFile: export, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 4 && lines[3].isEmpty)
        let columns = "ticket_no;device_id;officer_id;issued_at;plate;plate_country;tbnr;amount_eur;street;house_no;place_note;zip;city;lat;lon;"
        #expect(lines[0] == columns + "qr_printed;vehicle_make;vehicle_color")
        #expect(lines[1] == "0004711;HH-07;DN 1234;2026-03-14T09:30;KL-AB 123;D;141312;25,00;Fackelstraße;12;;67655;Kaiserslautern;;;1;;")
        #expect(lines[2] == lines[1])
        let imported = try TestSupport.lotse(["import", export], dataDir: shift.dir, env: shift.env)
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("\(export): imported 1, duplicates 1, rejected 0"), "\(imported.stdout)")
        // a file of another shape is not appended to
        TestSupport.write(shift.dir + "/other.csv", "ticket_no;device_id\n1;HH-07\n")
        #expect(try shift.issue("0004712", ["--export", shift.dir + "/other.csv"]).status == 1)
    }

    @Test func refusesWhatTheImporterWouldReject() throws {
        let shift = try Shift()
        defer { try? FileManager.default.removeItem(atPath: shift.dir) }
        let export = shift.dir + "/shift.csv"
        for (number, extra) in [
            ("0004711", ["--amount-eur", "30,00"]),  // not the catalogue's amount
            ("0004711", ["--tbnr", "999999"]),  // not in the catalogue
            ("47-11", []),  // not a number
            ("0004711", ["--at", "14.03.2026"]),  // no time
            ("0004711", ["--plate", " "]),
        ] {
            let out = try shift.issue(number, extra + ["--export", export])
            #expect(out.status == 2 && out.stdout.isEmpty, "\(number) \(extra): \(out.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: export))
    }

    @Test func pushSendsTheTicketOnlineAndTheEveningExportIsItsDuplicate() async throws {
        let shift = try Shift()
        defer { try? FileManager.default.removeItem(atPath: shift.dir) }
        let server = try shift.serve()
        defer { shift.stop(server) }
        let export = shift.dir + "/shift.csv"
        let pushed = try shift.issue("0004711", ["--at", "2026-03-14T09:30", "--export", export, "--push"])
        #expect(pushed.status == 0, "\(pushed.stderr)")
        // the token URL, then the server's answer: 201 with the case and the same URL
        let lines = pushed.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2 && lines[1].hasPrefix("201 "), "\(pushed.stdout)")
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].dropFirst(4).utf8)) as? [String: String])
        #expect(answer["url"] == lines[0] && answer["case_number"]?.hasPrefix("KL-2026-") == true)
        // pushed again (a retry after a lost answer): 200, the same case
        let again = try shift.issue("0004711", ["--at", "2026-03-14T09:30", "--push"])
        #expect(again.status == 0 && again.stdout.contains("200 ") && again.stdout.contains(answer["case_number"]!), "\(again.stdout)")
        // the case page is there before any export is imported
        let page = try await CurlClient().send(OutboundRequest(url: lines[0]))
        #expect(page.status == 200 && page.text.contains(answer["case_number"]!))
        // the evening export of the same ticket: a duplicate, one case
        let imported = try TestSupport.lotse(["import", export], dataDir: shift.dir, env: shift.env)
        #expect(imported.stdout.contains("imported 0, duplicates 1, rejected 0"), "\(imported.stdout) \(imported.stderr)")
        // a key file of a revoked device is refused: exit 1, the server's 401
        #expect(try TestSupport.lotse(["devices", "revoke", "HH-07"], dataDir: shift.dir, env: shift.env).status == 0)
        let refused = try shift.issue("0004712", ["--push"])
        #expect(refused.status == 1 && refused.stdout.contains("401 "), "\(refused.stdout)")
    }
}
