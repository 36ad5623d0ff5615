import Foundation
import LotseHTTP
import LotseTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real `lotse serve` and the real CLI on one data directory (issue 12, "Web and keys").
final class RunningServer: @unchecked Sendable {
    let dataDir: String
    let logDir: String
    let port = TestSupport.freePort()
    let http = CurlClient(connectTimeout: 2, timeout: 10)
    var process: Process!
    var base: String { "http://127.0.0.1:\(port)" }
    let env: [String: String]

    init(dataDir: String, env: [String: String] = [:]) throws {
        self.dataDir = dataDir
        logDir = TestSupport.tempDir("lotse-serve-log")
        var e = env
        e["LOTSE_DATA_DIR"] = dataDir
        e["LOTSE_PILOT_DATA"] = TestSupport.pilotData
        e["LOTSE_PUBLIC_BASE_URL"] = "http://127.0.0.1:\(port)"
        self.env = e
        process = try TestSupport.startServer(TestSupport.lotse, ["serve", "--port", String(port)], env: e, log: logDir + "/serve.log")
        try waitFor("/healthz")
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    func waitFor(_ path: String) throws {
        for _ in 0..<300 {
            if let r = try? get(path), r.status == 200 { return }
            usleep(50_000)
        }
        let log = (try? String(contentsOfFile: logDir + "/serve.log", encoding: .utf8)) ?? ""
        throw Failure(description: "\(path) did not come up: \(log)")
    }

    func get(_ path: String, headers: [(String, String)] = []) throws -> OutboundReply {
        try http.sendBlocking(OutboundRequest(url: base + path, headers: headers))
    }

    func post(_ path: String, body: [UInt8], headers: [(String, String)] = []) throws -> OutboundReply {
        try http.sendBlocking(OutboundRequest(method: "POST", url: base + path, headers: headers, body: body))
    }

    func lotse(_ args: [String]) throws -> TestSupport.Output {
        try TestSupport.run(TestSupport.lotse, args, env: env)
    }

    var isRunning: Bool { process.isRunning }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        for _ in 0..<100 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }
}

@Suite(.serialized) struct ServeTests {
    /// The data directory is made by `lotse` itself (a path that does not exist yet).
    static func freshDataDir() -> String { TestSupport.tempDir("lotse-serve") + "/data" }

    @Test func keysRotatedWhileServingAnswerWithoutARestart() throws {
        let dir = Self.freshDataDir()
        #expect(try TestSupport.lotse(["import", TestSupport.pilotData + "/samples/handheld-HH-07-2026-03-14.csv"], dataDir: dir).status == 0)
        let server = try RunningServer(dataDir: dir)
        defer { server.stop() }
        let rotated = try server.lotse(["keys", "rotate"])
        #expect(rotated.status == 0 && rotated.stdout.contains("signing key is now 2"), "\(rotated.stderr)")
        // a code printed after the rotation, signed with the new key
        let qr = try server.lotse(["qr", "KL-2026-0000001", "--out", dir + "/qr"])
        #expect(qr.status == 0, "\(qr.stderr)")
        let manifest = try String(contentsOfFile: dir + "/qr/manifest.csv", encoding: .utf8).split(separator: "\n")
        let url = String(try #require(manifest.dropFirst().first).split(separator: ";")[2])
        let token = String(try #require(url.components(separatedBy: "/T/").last))
        var status = 0
        for _ in 0..<40 {
            status = try server.get("/T/" + token).status
            if status == 200 { break }
            usleep(100_000)
        }
        #expect(status == 200)
        // and the lookup form's redirect, made by the server, uses the new key too: the ring the server holds has 2 keys
        #expect(try server.lotse(["keys", "list"]).stdout.contains("key 2"))
    }

    @Test func concurrentRotationsKeepEveryKey() throws {
        let dir = Self.freshDataDir()
        #expect(try TestSupport.lotse(["keys", "list"], dataDir: dir).status == 0)
        let env = ["LOTSE_DATA_DIR": dir, "LOTSE_PILOT_DATA": TestSupport.pilotData]
        let running = try (0..<8).map { _ in try TestSupport.start(TestSupport.lotse, ["keys", "rotate"], env: env) }
        for r in running {
            _ = r.stdoutPipe.fileHandleForReading.readDataToEndOfFile()
            r.process.waitUntilExit()
            #expect(r.process.terminationStatus == 0)
        }
        let list = try TestSupport.lotse(["keys", "list"], dataDir: dir).stdout.split(separator: "\n")
        #expect(list.count == 9, "\(list)")
        #expect(list.last?.hasPrefix("key 9 ") == true)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty)
    }

    @Test func everyDataFileIsTheOwnersOnly() throws {
        let dir = Self.freshDataDir()
        let work = TestSupport.tempDir("lotse-serve-in")
        let csv = work + "/shift.csv"
        // one good row and one rejected row (an unknown TBNR): a rejects file is written
        TestSupport.write(
            csv,
            "ticket_no;device_id;issued_at;plate;plate_country;tbnr;street;city\n"
                + "9001;HH-P;2026-03-14T08:00;KL-P 1;D;141312;Markt 1;Kaiserslautern\n"
                + "9002;HH-P;2026-03-14T08:05;KL-P 2;D;999999;Markt 2;Kaiserslautern\n"
        )
        let imported = try TestSupport.lotse(["import", csv, TestSupport.pilotData + "/samples/handheld-HH-07-2026-03-14.csv"], dataDir: dir)
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(try TestSupport.lotse(["dunning", "--as-of", "2026-04-30"], dataDir: dir).status == 0)
        #expect(try TestSupport.lotse(["qr", "--new", "--out", dir + "/qr"], dataDir: dir).status == 0)
        #expect(try TestSupport.lotse(["keys", "rotate"], dataDir: dir).status == 0)
        // an upload spool file a killed server left behind, readable by all
        try FileManager.default.createDirectory(
            atPath: dir + "/uploads",
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o755]
        )
        FileManager.default.createFile(atPath: dir + "/uploads/left-behind.csv", contents: Data("x".utf8), attributes: [.posixPermissions: 0o644])
        let server = try RunningServer(dataDir: dir, env: ["LOTSE_OFFICE_TOKEN": "office-secret-1234"])
        defer { server.stop() }
        let upload = try server.post(
            "/api/v1/imports?name=more.csv",
            body: Array(
                ("ticket_no;device_id;issued_at;plate;plate_country;tbnr;street;city\n"
                    + "9101;HH-Q;2026-03-14T09:00;KL-Q 1;D;141312;Markt 3;Kaiserslautern\n").utf8
            ),
            headers: [("Authorization", "Bearer office-secret-1234")]
        )
        #expect(upload.status == 200, "\(upload.text)")
        #expect(try server.get("/").status == 200)
        server.stop()
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/uploads").isEmpty)
        var seen = 0
        func check(_ path: String) throws {
            var st = stat()
            #expect(lstat(path, &st) == 0)
            let mode = st.st_mode & 0o777
            if st.st_mode & 0o170000 == 0o040000 {
                #expect(mode == 0o700, "\(path) is \(String(mode, radix: 8))")
                for name in try FileManager.default.contentsOfDirectory(atPath: path) { try check(path + "/" + name) }
            } else {
                #expect(mode == 0o600, "\(path) is \(String(mode, radix: 8))")
                seen += 1
            }
        }
        try check(dir)
        let names = try FileManager.default.subpathsOfDirectory(atPath: dir)
        #expect(names.contains("lotse.sqlite") && names.contains("keys.json") && names.contains("qr/manifest.csv"), "\(names)")
        #expect(names.contains { $0.hasPrefix("rejects/") } && names.contains { $0.hasPrefix("reminders/") }, "\(names)")
        #expect(seen > 10)
    }

    @Test func anUploadWithInvalidUTF8NeverEndsTheServer() throws {
        let dir = Self.freshDataDir()
        #expect(try TestSupport.lotse(["import", TestSupport.pilotData + "/samples/handheld-HH-07-2026-03-14.csv"], dataDir: dir).status == 0)
        let server = try RunningServer(dataDir: dir, env: ["LOTSE_OFFICE_TOKEN": "office-secret-1234"])
        defer { server.stop() }
        // invalid UTF-8 (0xC3 0x28, 0xFF) in an element name, an attribute name and a comment
        let handheld =
            Array("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<OWIGMDEData><Verwarnung><Kennzeichen".utf8) + [0xC3, 0x28]
            + Array(">KL-AB 1</Kennzeichen".utf8) + [0xC3, 0x28] + Array("></Verwarnung></OWIGMDEData>\n".utf8)
        let camt =
            Array("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.054.001.08\"><!-- ".utf8)
            + [0xFF, 0xFE] + Array(" --><BkToCstmrDbtCdtNtfctn a".utf8) + [0xC3, 0x28] + Array("=\"1\"><Ntfctn".utf8) + [0xFF]
            + Array("></Ntfctn></BkToCstmrDbtCdtNtfctn></Document>\n".utf8)
        for (route, body) in [
            ("/api/v1/imports?name=bad.xml", handheld), ("/api/v1/bank-statements?name=bad.xml", camt),
            ("/api/v1/imports?name=bad2.xml", camt), ("/api/v1/bank-statements?name=bad2.xml", handheld),
        ] {
            let r = try? server.post(route, body: body, headers: [("Authorization", "Bearer office-secret-1234")])
            #expect(server.isRunning, "\(route) ended the server")
            let reply = try #require(r, "\(route): no answer")
            #expect((400..<500).contains(reply.status), "\(route): \(reply.status) \(reply.text)")
            let json = try? JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any]
            let message = json?["error"] as? String
            #expect(message?.contains("bad") == true, "\(route): \(reply.text)")
            #expect(message?.contains("NSXMLParserErrorDomain") == false)
            #expect(try server.get("/healthz").status == 200)
        }
    }
}
