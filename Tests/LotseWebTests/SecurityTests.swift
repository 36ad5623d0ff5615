import Crypto
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LotseCore
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

@testable import LotseWeb

#if canImport(Glibc)
import Glibc
#endif

/// Issue 12, "Web and keys": each test here fails on the code before the fix.
@Suite struct ClientAddressTests {
    @Test func forwardedForIsBelievedOnlyFromTrustedProxies() throws {
        let p = try TrustedProxies(["10.0.0.0/8", "2001:db8::/32", "::1"])
        // an untrusted peer: its X-Forwarded-For is ignored
        #expect(p.client(socket: "203.0.113.9", forwardedFor: ["1.2.3.4"]) == "203.0.113.9")
        // a trusted proxy: the rightmost address that is not a trusted proxy; what the client wrote further left is ignored
        #expect(p.client(socket: "10.1.2.3", forwardedFor: ["6.6.6.6, 198.51.100.7"]) == "198.51.100.7")
        #expect(p.client(socket: "10.1.2.3", forwardedFor: ["6.6.6.6", "198.51.100.7, 10.9.9.9"]) == "198.51.100.7")
        #expect(p.client(socket: "::1", forwardedFor: ["2001:db8::5, 2a00:1450::1"]) == "2a00:1450::1")
        #expect(p.client(socket: "2001:db8:1::1", forwardedFor: ["::ffff:198.51.100.8"]) == "198.51.100.8")
        // IPv4-mapped peer address counts as the IPv4 address
        #expect(p.client(socket: "::ffff:10.0.0.1", forwardedFor: ["198.51.100.9"]) == "198.51.100.9")
        // only trusted hops: the leftmost
        #expect(p.client(socket: "10.0.0.1", forwardedFor: ["10.0.0.2"]) == "10.0.0.2")
        // empty hops are skipped; a hop that is no address is one client of its own
        #expect(p.client(socket: "10.0.0.1", forwardedFor: ["198.51.100.3, , "]) == "198.51.100.3")
        #expect(p.client(socket: "10.0.0.1", forwardedFor: ["198.51.100.3, unknown"]) == "unknown")
        // no header: the proxy itself
        #expect(p.client(socket: "10.0.0.1", forwardedFor: []) == "10.0.0.1")
        #expect(try TrustedProxies([]).client(socket: "127.0.0.1", forwardedFor: ["1.1.1.1"]) == "127.0.0.1")
        #expect(IPNetwork(cidr: "10.0.0.0/33") == nil && IPNetwork(cidr: "nonsense") == nil && IPNetwork(cidr: "::/129") == nil)
        #expect(IPNetwork(cidr: "192.168.0.0/16")!.contains(IPNetwork.parse("192.168.255.1")!))
        #expect(!IPNetwork(cidr: "192.168.0.0/16")!.contains(IPNetwork.parse("192.169.0.1")!))
        #expect(throws: (any Error).self) { try TrustedProxies(["10.0.0.0/8", "10.0.0.300"]) }
    }

    @Test func aTypoInTrustedProxiesStopsTheServerFromStarting() async throws {
        await #expect(throws: LotseError.self) {
            _ = try await WebFixture { $0.trustedProxies = ["10.0.0.0/8x"] }
        }
    }
}

@Suite struct LookupLimitTests {
    func csrf(_ client: any TestClientProtocol) async throws -> (cookie: String, value: String) {
        let start = try await client.execute(uri: "/", method: .get)
        let cookie = try #require(cookieHeader(start, "lotse_csrf"))
        return (cookie, String(cookie.dropFirst("lotse_csrf=".count)))
    }

    func lookup(
        _ client: any TestClientProtocol,
        _ csrf: (cookie: String, value: String),
        number: String,
        plate: String,
        from address: String?
    ) async throws -> HTTPResponse.Status {
        var h: HTTPFields = [.contentType: "application/x-www-form-urlencoded", .cookie: csrf.cookie]
        if let address { h[HTTPField.Name("X-Forwarded-For")!] = address }
        let body = "csrf=\(csrf.value)&case_number=\(number)&plate=\(plate)"
        return try await client.execute(uri: "/lookup", method: .post, headers: h, body: ByteBuffer(string: body)).status
    }

    @Test func behindATrustedProxyEachClientHasItsOwnBudgetAndEachCaseNumberOneForAll() async throws {
        let f = try await WebFixture { $0.trustedProxies = ["127.0.0.1/32", "::1/128"] }
        try await f.test { client in
            let c = try await csrf(client)
            for i in 0..<10 {
                #expect(try await lookup(client, c, number: "KL-2026-00001\(10 + i)", plate: "X", from: "198.51.100.1") == .ok)
            }
            #expect(try await lookup(client, c, number: "KL-2026-0000130", plate: "X", from: "198.51.100.1") == .tooManyRequests)
            // another client behind the same proxy is not blocked by the first
            #expect(try await lookup(client, c, number: "KL-2026-0000131", plate: "X", from: "198.51.100.2") == .ok)
            // a client cannot pick its address by writing X-Forwarded-For itself: the proxy appended the real one
            #expect(
                try await lookup(client, c, number: "KL-2026-0000132", plate: "X", from: "198.51.100.2, 198.51.100.1")
                    == .tooManyRequests
            )
            // one case number, wrong plates from many addresses: slow after 10, whoever asks
            var statuses: [HTTPResponse.Status] = []
            for i in 0..<12 {
                statuses.append(try await lookup(client, c, number: "KL-2026-0000001", plate: "WRONG\(i)", from: "203.0.113.\(i + 1)"))
            }
            #expect(statuses.prefix(10).allSatisfy { $0 == .ok })
            #expect(statuses.suffix(2).allSatisfy { $0 == .tooManyRequests })
            // the number typed another way is the same number
            #expect(try await lookup(client, c, number: "kl20260000001", plate: "WRONG", from: "203.0.113.99") == .tooManyRequests)
        }
        // without trusted proxies X-Forwarded-For is not believed: every address is the socket's
        let plain = try await WebFixture()
        try await plain.test { client in
            let c = try await csrf(client)
            for i in 0..<10 {
                _ = try await lookup(client, c, number: "KL-2026-00002\(10 + i)", plate: "X", from: "198.51.100.\(i + 1)")
            }
            #expect(try await lookup(client, c, number: "KL-2026-0000230", plate: "X", from: "198.51.100.77") == .tooManyRequests)
        }
    }

    @Test func aMissCostsWhatAHitCosts() async throws {
        let f = try await WebFixture { $0.trustedProxies = ["127.0.0.1/32", "::1/128"] }
        // 200,000 more cases
        try f.store.write { db in
            try db.execute(
                sql: """
                    WITH RECURSIVE n(i) AS (SELECT 1000 UNION ALL SELECT i + 1 FROM n WHERE i < 200999)
                    INSERT INTO cases (case_number, source_id, issued_at, plate, plate_country, tbnr, amount_cents, street, city,
                                       deadline, created_at, issued_day)
                    SELECT printf('KL-2025-%07d', i), 'bulk/' || i, 1773468000, 'KL-ZZ ' || i, 'D', '117161', 3500, 'X', 'Y',
                           '2026-03-21', 0, '2026-03-14' FROM n
                    """
            )
        }
        try await f.test { client in
            let c = try await csrf(client)
            func timed(_ number: String, _ plate: String, _ address: String) async throws -> (Double, HTTPResponse.Status) {
                let start = DispatchTime.now().uptimeNanoseconds
                let status = try await lookup(client, c, number: number, plate: plate, from: address)
                return (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6, status)
            }
            var hits: [Double] = []
            var misses: [Double] = []
            for i in 0..<15 {
                let hit = try await timed(String(format: "KL-2025-%07d", 5000 + i * 7), "KL-ZZ+\(5000 + i * 7)", "198.51.100.\(i + 1)")
                #expect(hit.1 == .seeOther)
                hits.append(hit.0)
                // a number typed in lower case without separators that no case has
                let miss = try await timed(String(format: "kl2025%07d", 900_000 + i), "KL-ZZ+1", "203.0.113.\(i + 1)")
                #expect(miss.1 == .ok)
                misses.append(miss.0)
            }
            let hit = hits.sorted()[7]
            let miss = misses.sorted()[7]
            // a scan of 200,000 rows takes tens of milliseconds; an index search none
            #expect(miss < hit + 15, "median miss \(miss) ms, hit \(hit) ms")
        }
    }
}

@Suite struct ConnectionTimeoutTests {
    /// Connects, sends `text`, and reads until the server closes (true) or 8 seconds pass (false).
    static func closedByServer(port: Int, send text: String) -> (closed: Bool, seconds: Double, received: String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var tv = timeval(tv_sec: 8, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let start = Date()
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return (false, 0, "") }
        let bytes = Array(text.utf8)
        if !bytes.isEmpty { _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) } }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n == 0 { return (true, Date().timeIntervalSince(start), String(decoding: received, as: UTF8.self)) }
            if n < 0 { return (false, Date().timeIntervalSince(start), String(decoding: received, as: UTF8.self)) }
            received += chunk[0..<n]
        }
    }

    static func closed(port: Int, send text: String) async -> (closed: Bool, seconds: Double, received: String) {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: closedByServer(port: port, send: text)) }
        }
    }

    @Test func idleAndHalfSentRequestsAreClosed() async throws {
        let f = try await WebFixture {
            $0.idleTimeout = 1
            $0.readTimeout = 1
        }
        try await f.test { client in
            let port = try #require(client.port)
            // nothing sent
            let silent = await Self.closed(port: port, send: "")
            #expect(silent.closed && silent.seconds < 4, "\(silent)")
            // a head sent half
            let half = await Self.closed(port: port, send: "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1")
            #expect(half.closed && half.seconds < 4, "\(half)")
            // a body announced and never sent
            let body = await Self.closed(port: port, send: "POST /lookup HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
            #expect(body.closed && body.seconds < 4, "\(body)")
            // a whole request is answered, then the idle connection closed
            let idle = await Self.closed(port: port, send: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(idle.received.hasPrefix("HTTP/1.1 200") && idle.closed && idle.seconds < 4, "\(idle)")
        }
    }

    @Test func theParsersAnswerCarriesTheSecurityHeaders() async throws {
        let f = try await WebFixture()
        try await f.test { client in
            let port = try #require(client.port)
            let raw = await Self.closed(port: port, send: "\u{01}\u{02} / HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(raw.received.hasPrefix("HTTP/1.1 400"), "\(raw.received)")
            let head = raw.received.lowercased()
            #expect(head.contains("content-security-policy: default-src 'none'"))
            #expect(head.contains("x-content-type-options: nosniff") && head.contains("x-frame-options: deny"))
            #expect(head.contains("referrer-policy: no-referrer"))
        }
    }

    @Test func unknownPathsGetTheBranded404() async throws {
        let f = try await WebFixture()
        try await f.test { client in
            for uri in ["/no/such/page", "/admin", "/T", "/api/v1/nothing", "/style.css.bak"] {
                let r = try await client.execute(uri: uri, method: .get)
                #expect(r.status == .notFound, "\(uri)")
                #expect(r.text.contains("Seite nicht gefunden"), "\(uri)")
                #expect(r.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true, "\(uri)")
                #expect(r.headers[.contentType] == "text/html; charset=utf-8")
            }
            let en = try await client.execute(uri: "/nothing", method: .get, headers: [.acceptLanguage: "en"])
            #expect(en.text.contains("Page not found"))
            // files are still served
            #expect(try await client.execute(uri: "/style.css", method: .get).status == .ok)
        }
    }
}

@Suite struct EvaluatorAccessTests {
    static let token = "eval-secret-42"

    func fixture(metricsToken: String? = nil) async throws -> WebFixture {
        try await WebFixture(officeToken: "office-secret-1234") {
            $0.evaluatorToken = Self.token
            $0.metricsToken = metricsToken
        }
    }

    func csrf(_ client: any TestClientProtocol) async throws -> (cookie: String, value: String) {
        let start = try await client.execute(uri: "/stats", method: .get)
        let cookie = try #require(cookieHeader(start, "lotse_csrf"))
        return (cookie, String(cookie.dropFirst("lotse_csrf=".count)))
    }

    /// The environment's evaluator token is for machine clients: no form takes it (people sign in with accounts).
    @Test func theEvaluatorTokenIsNotASignInForPeople() async throws {
        let f = try await fixture()
        try await f.test { client in
            let c = try await csrf(client)
            let r = try await client.execute(
                uri: "/stats/login",
                method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded", .cookie: c.cookie],
                body: ByteBuffer(string: "csrf=\(c.value)&token=\(Self.token)")
            )
            #expect(r.status == .notFound && r.headers[.setCookie] == nil)
            let page = try await client.execute(uri: "/stats", method: .get)
            #expect(page.status == .unauthorized && page.text.contains("action=\"/office/login\"") && !page.text.contains("name=\"token\""))
        }
    }

    @Test func bearerGuessesAreThrottled() async throws {
        let f = try await fixture()
        try await f.test { client in
            for i in 0..<5 {
                let r = try await client.execute(uri: "/api/v1/payments", method: .get, headers: [.authorization: "Bearer guess-\(i)"])
                #expect(r.status == .unauthorized)
            }
            let office = try await client.execute(uri: "/api/v1/payments", method: .get, headers: [.authorization: "Bearer office-secret-1234"])
            #expect(office.status == .tooManyRequests)
            let stats = try await client.execute(uri: "/api/v1/stats", method: .get, headers: [.authorization: "Bearer " + Self.token])
            #expect(stats.status == .tooManyRequests)
            // the wait doubles: after the sixth failure two seconds
            try await Task.sleep(for: .milliseconds(1100))
            #expect(try await client.execute(uri: "/api/v1/stats", method: .get, headers: [.authorization: "Bearer nope"]).status == .unauthorized)
            try await Task.sleep(for: .milliseconds(1100))
            #expect(
                try await client.execute(uri: "/api/v1/stats", method: .get, headers: [.authorization: "Bearer " + Self.token]).status
                    == .tooManyRequests
            )
        }
    }

    @Test func metricsNeedTheTokenWhenOneIsSet() async throws {
        let f = try await fixture(metricsToken: "scrape-secret")
        try await f.test { client in
            #expect(try await client.execute(uri: "/metrics", method: .get).status == .unauthorized)
            #expect(try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer wrong"]).status == .unauthorized)
            // rarer methods (the parser knows about 30) are counted as one label
            for name in ["PROPFIND", "MKCOL", "LOCK"] { _ = try await client.execute(uri: "/", method: HTTPRequest.Method(name)!) }
            let ok = try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer scrape-secret"])
            #expect(ok.status == .ok && ok.text.contains("lotse_cases{status=\"open\"}"))
            #expect(!ok.text.contains("PROPFIND") && !ok.text.contains("MKCOL") && ok.text.contains("_OTHER"))
        }
    }

    @Test func theAPIsuppressesCountsBelowFiveLikeTheCSV() async throws {
        let f = try await fixture()
        let tokens = try ["KL-2026-0000001", "KL-2026-0000002"].map { try f.token($0) }
        try await f.test { client in
            for t in tokens { _ = try await client.execute(uri: "/T/\(t)", method: .get) }
            f.env.recorder.flush()
            let auth: HTTPFields = [.authorization: "Bearer " + Self.token]
            let r = try await client.execute(uri: "/api/v1/stats?from=2026-03-01&to=2026-03-31", method: .get, headers: auth)
            #expect(r.status == .ok)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(r.text.utf8)) as? [String: Any])
            let totals = try #require(json["totals"] as? [String: Any])
            #expect(totals["issued"] as? Int == 24)
            #expect(totals["scanned"] is NSNull)
            #expect((totals["suppressed"] as? [String])?.contains("scanned") == true)
            #expect(totals["paid"] as? Int == 0)
            let month = try #require((json["months"] as? [[String: Any]])?.first)
            #expect(month["scanned"] is NSNull && (month["suppressed"] as? [String])?.contains("scanned") == true)
            let languages = try #require(json["languages"] as? [String: Any])
            #expect(languages["de"] is NSNull)
            // no number from 1 to 4 anywhere in the counts
            for (k, v) in totals { if let n = v as? Int { #expect(n == 0 || n >= 5, "\(k)") } }
            let csv = try await client.execute(uri: "/api/v1/stats.csv?from=2026-03-01&to=2026-03-31", method: .get, headers: auth)
            #expect(csv.text.contains("2026-03;24;< 5;"))
        }
    }
}

/// The lookup budgets under a flood of new keys: eviction never gives a key its budget back early.
@Suite struct BudgetEvictionTests {
    @Test func floodingWithNewKeysDoesNotResetATargetedKeysBudget() {
        let budget = Budget(capacity: 10, per: 3600, maxKeys: 100)
        for _ in 0..<10 { #expect(budget.take("KL20260000001", now: 0)) }
        #expect(!budget.hasToken("KL20260000001", now: 0))
        // An attacker asks for 1,000 new case numbers (from as many addresses as it likes).
        var admitted = 0
        for i in 0..<1000 where budget.take("KL2026\(String(format: "%07d", 1000 + i))", now: 100 + Double(i) * 0.05) {
            admitted += 1
        }
        #expect(budget.count <= 100)
        #expect(admitted == 99, "only the free places are handed out while no bucket is full again")
        // The targeted number has not got its budget back: six minutes recover one lookup, not ten.
        #expect(!budget.hasToken("KL20260000001", now: 200))
        #expect(budget.take("KL20260000001", now: 360))
        #expect(!budget.take("KL20260000001", now: 361))
        // Once the flood's buckets are full again, they make room for new keys.
        #expect(budget.take("KL20269999999", now: 4000))
        #expect(budget.count <= 100)
    }

    @Test func aNewKeyIsRefusedWhileNoHeldKeyHasRecovered() {
        let budget = Budget(capacity: 2, per: 60, maxKeys: 3)
        for key in ["a", "b", "c"] { #expect(budget.take(key, now: 0)) }
        #expect(!budget.take("d", now: 1))
        #expect(!budget.hasToken("d", now: 20))
        // A held key still gets its own tokens.
        #expect(budget.take("a", now: 40))
        // After a minute "b" and "c" are full again and can go, "a" is not (the look happens at most every 10 s).
        #expect(budget.take("d", now: 61))
        #expect(budget.count == 2)
    }
}
