import Foundation
import GRDB
import LotseHTTP
@_spi(Testing) import LotseStorage
import LotseTestSupport

/// The real `lotse serve` against the real `lotse-paypal-sim`, both on loopback, with a data directory of `cases` tickets.
final class PayPalHarness: @unchecked Sendable {
    let dir = TestSupport.tempDir("lotse-paypal")
    let port = TestSupport.freePort()
    let simPort = TestSupport.freePort()
    var sim: Process!
    var serve: Process!
    var tokens: [String: String] = [:]  // case number -> token
    var serveEnv: [String: String] = [:]
    let http = CurlClient(connectTimeout: 2, timeout: 10)
    var base: String { "http://127.0.0.1:\(port)" }
    var simBase: String { "http://127.0.0.1:\(simPort)" }

    init(cases: Int = 24, withoutQR: Set<Int> = [], simArgs: [String] = [], env extra: [String: String] = [:], paypal: Bool = true) throws {
        var csv = "ticket_no;device_id;issued_at;plate;tbnr;street;city;qr_printed\n"
        for i in 0..<cases {
            csv +=
                "\(i + 1);HH-P;2026-03-14T08:\(String(format: "%02d", i % 60));KL-PP \(i + 1);141312;Markt;Kaiserslautern;\(withoutQR.contains(i + 1) ? 0 : 1)\n"
        }
        TestSupport.write(dir + "/t.csv", csv)
        let env = ["LOTSE_PUBLIC_BASE_URL": base]
        guard try TestSupport.lotse(["import", dir + "/t.csv"], dataDir: dir, env: env).status == 0 else { throw Failure("import failed") }
        guard try TestSupport.lotse(["qr", "--all", "--out", dir + "/qr"], dataDir: dir, env: env).status == 0 else { throw Failure("qr failed") }
        for line in try String(contentsOfFile: dir + "/qr/manifest.csv", encoding: .utf8).split(separator: "\n").dropFirst() {
            let f = line.split(separator: ";").map(String.init)
            tokens[f[0]] = String(f[2].split(separator: "/").last!)
        }
        sim = try TestSupport.startServer(
            TestSupport.binDir + "/lotse-paypal-sim",
            ["--port", String(simPort), "--webhook-url", base + "/webhooks/paypal", "--webhook-id", "WH-TEST"] + simArgs,
            log: dir + "/sim.log"
        )
        var serveEnv = env
        serveEnv["LOTSE_DATA_DIR"] = dir
        serveEnv["LOTSE_PILOT_DATA"] = TestSupport.pilotData
        if paypal {
            serveEnv["LOTSE_PAYPAL_API_BASE"] = simBase
            serveEnv["LOTSE_PAYPAL_CLIENT_ID"] = "sim-client"
            serveEnv["LOTSE_PAYPAL_CLIENT_SECRET"] = "sim-secret"
            serveEnv["LOTSE_PAYPAL_WEBHOOK_ID"] = "WH-TEST"
        }
        serveEnv["LOTSE_PAYPAL_TIMEOUT"] = "1"
        for (k, v) in extra { serveEnv[k] = v }
        self.serveEnv = serveEnv
        serve = try TestSupport.startServer(TestSupport.lotse, ["serve", "--port", String(port)], env: serveEnv, log: dir + "/serve.log")
        try waitFor(base + "/healthz")
        try waitFor(simBase + "/sim/orders")
    }

    /// Stops `lotse serve` and starts it again on the same port; `reinstall`: on a new database with the same tickets
    /// imported again (the same case ids, as after a reinstall), against the same simulator.
    func restartServe(reinstall: Bool = false) throws {
        serve.terminate()
        serve.waitUntilExit()
        if reinstall {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: dir + "/lotse.sqlite" + suffix) }
            guard try TestSupport.lotse(["import", dir + "/t.csv"], dataDir: dir, env: ["LOTSE_PUBLIC_BASE_URL": base]).status == 0 else {
                throw Failure("import failed")
            }
        }
        serve = try TestSupport.startServer(TestSupport.lotse, ["serve", "--port", String(port)], env: serveEnv, log: dir + "/serve2.log")
        try waitFor(base + "/healthz")
    }

    /// How often `lotse serve` was killed; each run logs to its own file.
    var kills = 0

    /// Kills `lotse serve` with SIGKILL (no shutdown of any kind: open requests, captures and webhooks are cut where
    /// they stand), waits `pause` seconds and starts it again on the same data directory and port.
    func killAndRestartServe(pause: Double = 0.1) throws {
        kill(serve.processIdentifier, SIGKILL)
        serve.waitUntilExit()
        kills += 1
        usleep(useconds_t(pause * 1_000_000))
        serve = try TestSupport.startServer(
            TestSupport.lotse,
            ["serve", "--port", String(port)],
            env: serveEnv,
            log: dir + "/serve-after-kill-\(kills).log"
        )
        try waitFor(base + "/healthz")
    }

    /// A bearer token of the simulator, for calling its API as someone other than Lotse.
    func simAccessToken() throws -> String {
        let token = try http.sendBlocking(
            OutboundRequest(
                method: "POST",
                url: simBase + "/v1/oauth2/token",
                headers: [
                    ("Authorization", "Basic " + Data("sim-client:sim-secret".utf8).base64EncodedString()),
                    ("Content-Type", "application/x-www-form-urlencoded"),
                ],
                body: Array("grant_type=client_credentials".utf8)
            )
        )
        return (try JSONSerialization.jsonObject(with: Data(token.body)) as! [String: Any])["access_token"] as! String
    }

    /// Every webhook the simulator signed (sent or dropped): headers and body.
    func simWebhooks() throws -> [(headers: [String: String], body: String)] {
        let r = try http.sendBlocking(OutboundRequest(url: simBase + "/sim/webhooks"))
        return (try JSONSerialization.jsonObject(with: Data(r.body)) as! [[String: Any]]).map {
            ($0["headers"] as! [String: String], $0["body"] as! String)
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    func waitFor(_ url: String) throws { try TestSupport.waitForOK(url, client: http, logs: dir) }

    func stop() { TestSupport.stop([serve, sim]) }

    deinit { stop() }

    func store() throws -> Store { try Store(path: dir + "/lotse.sqlite") }

    func simOrders() throws -> [[String: Any]] {
        let r = try http.sendBlocking(OutboundRequest(url: simBase + "/sim/orders"))
        return try JSONSerialization.jsonObject(with: Data(r.body)) as! [[String: Any]]
    }
}

/// A browser: a cookie jar, no automatic redirects.
final class Browser: @unchecked Sendable {
    let http: CurlClient
    var cookies: [String: String] = [:]
    init(_ http: CurlClient) { self.http = http }

    func send(_ method: String, _ url: String, form: [String: String]? = nil) async throws -> OutboundReply {
        var headers: [(String, String)] = []
        if !cookies.isEmpty { headers.append(("Cookie", cookies.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "; "))) }
        var body: [UInt8]?
        if let form {
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
            body = Array(
                form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }.joined(separator: "&").utf8
            )
        }
        let r = try await http.send(OutboundRequest(method: method, url: url, headers: headers, body: body))
        for line in (r.headers["set-cookie"] ?? "").split(separator: "\n") {
            let kv = line.split(separator: ";")[0].split(separator: "=", maxSplits: 1)
            if kv.count == 2 { cookies[String(kv[0]).trimmingCharacters(in: .whitespaces)] = String(kv[1]) }
        }
        return r
    }

    func location(_ r: OutboundReply, base: String) -> String? {
        guard let l = r.headers["location"] else { return nil }
        return l.hasPrefix("/") ? base + l : l
    }
}
