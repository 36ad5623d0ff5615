import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@_spi(Testing) import LotseStorage
import LotseTestSupport
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import LotseWeb

#if canImport(Glibc)
import Glibc
#endif

/// The case page answered in the connection's pipeline (`CasePageChannelHandler`) is the router's
/// page, byte for byte and header for header, and keeps the order of pipelined requests.
@Suite struct CasePageChannelHandlerTests {
    /// Requests that take the fast path (a known token, GET, no Connection header), in both languages,
    /// with the language cookie set, a notice, the lower-case route.
    static func requests(_ token: String) -> [(String, HTTPFields)] {
        let csrf: HTTPFields = [.cookie: "lotse_csrf=0123456789abcdef0123456789abcdef"]
        return [
            ("/T/\(token)", csrf),
            ("/T/\(token)?lang=en", csrf),
            ("/T/\(token)?notice=payment_cancelled", [.cookie: "lotse_lang=en; lotse_csrf=0123456789abcdef0123456789abcdef"]),
            ("/t/\(token.lowercased())", [.acceptLanguage: "en-GB,en;q=0.9", .cookie: "lotse_csrf=0123456789abcdef0123456789abcdef"]),
        ]
    }

    struct Answer: Equatable {
        var status: HTTPResponse.Status
        var headers: [String]
        var body: String
    }

    /// `name: value`; a cookie's attributes sorted (Hummingbird's `Cookie` writes them in no fixed order);
    /// the date left out (two runs may fall in different seconds; its format is checked on its own).
    static func normalised(_ field: HTTPField) -> String {
        if field.name == .setCookie {
            let parts = field.value.components(separatedBy: "; ")
            return "set-cookie: " + parts[0] + "; " + parts.dropFirst().sorted().joined(separator: "; ")
        }
        return "\(field.name.canonicalName): " + (field.name == .date ? "(date)" : field.value)
    }

    func answers(_ f: WebFixture, _ paths: [(String, HTTPFields)], fastPath: CaseFastPath?) async throws -> [Answer] {
        let app = buildApplication(environment: f.env, host: "127.0.0.1", port: 0, caseFastPath: fastPath)
        let out = NIOLockedValueBox([Answer]())
        try await app.test(.live) { client in
            for (uri, headers) in paths {
                let r = try await client.execute(uri: uri, method: .get, headers: headers)
                out.withLockedValue {
                    $0.append(Answer(status: r.status, headers: r.headers.map(Self.normalised).sorted(), body: String(buffer: r.body)))
                }
            }
        }
        return out.withLockedValue { $0 }
    }

    @Test func theFastPathGivesTheRoutersPage() async throws {
        for payPal in [false, true] {
            let f = try await WebFixture(baseURL: "https://bussgeld.kaiserslautern.de", paypal: payPal)
            let paths = Self.requests(try f.token("KL-2026-0000001")) + Self.requests(try f.token("KL-2026-0000002"))
            let fast = CaseFastPath()
            let viaPipeline = try await answers(f, paths, fastPath: fast)
            // every one, the first of each case too: a miss is read by the case cache's thread and then answered here
            #expect(fast.answered == paths.count)
            let viaRouter = try await answers(f, paths, fastPath: nil)
            #expect(viaPipeline.count == paths.count)
            for (a, b) in zip(viaPipeline, viaRouter) {
                #expect(a == b)
                #expect(a.status == .ok && a.body.contains("KL-2026-000000"))
                #expect(a.headers.contains { $0.hasPrefix("content-security-policy: default-src 'none'") })
                #expect(a.headers.contains("strict-transport-security: max-age=31536000"))
                #expect(a.headers.contains("date: (date)"))
            }
            #expect(viaPipeline[1].headers.contains { $0.hasPrefix("set-cookie: lotse_lang=en;") })
            #expect(viaPipeline[2].body.contains("<html lang=\"en\">"))
        }
    }

    @Test func theDateFieldIsRFC9110() {
        #expect(HTTPDate.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(1_795_250_000) == "Sat, 21 Nov 2026 08:33:20 GMT")
    }

    @Test func whatTheFastPathDoesNotAnswerGoesToTheRouter() async throws {
        let f = try await WebFixture()
        let token = try f.token("KL-2026-0000001")
        var chars = Array(token)
        chars[20] = chars[20] == "A" ? "B" : "A"
        let forgedToken = String(chars)
        let fast = CaseFastPath()
        let app = buildApplication(environment: f.env, host: "127.0.0.1", port: 0, caseFastPath: fast)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            func one(_ request: String, head: Bool = false) async throws -> RawHTTP.Answer {
                let a = try await RawHTTP.exchange(port: port, request + "\r\n", answers: 1, head: head)
                return try #require(a.first)
            }
            #expect(try await one("GET /T/\(forgedToken) HTTP/1.1\r\nHost: x\r\n").status == 404)
            #expect(try await one("HEAD /T/\(token) HTTP/1.1\r\nHost: x\r\n", head: true).status == 200)
            let close = try await one("GET /T/\(token) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n")
            #expect(close.status == 200 && close.body.contains("KL-2026-0000001"))
            #expect(try await one("GET /T/\(token)/girocode.svg HTTP/1.1\r\nHost: x\r\n").status == 200)
            #expect(try await one("POST /T/\(token) HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n").status != 200)
            #expect(fast.answered == 0)
            let kept = try await one("GET /T/\(token) HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n")
            #expect(kept.status == 200 && kept.body.contains("KL-2026-0000001"))
            #expect(fast.answered == 1)
            // the page's metrics are counted under the router's route name
            let m = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(m.contains("http_route=\"/T/{token}\""))
        }
    }

    /// A case not in the case cache is read by the cache's own thread and answered in the pipeline, in order with what
    /// came after it on the connection; a valid token of a case that does not exist goes on to the router (404).
    @Test func aMissIsReadOffTheLoopAndAnsweredInThePipeline() async throws {
        let f = try await WebFixture()
        let tokens = try (1...3).map { try f.token("KL-2026-000000\($0)") }
        let nowhere = f.env.tokens.token(caseID: 999_999)
        let fast = CaseFastPath()
        let app = buildApplication(environment: f.env, host: "127.0.0.1", port: 0, caseFastPath: fast)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            #expect(f.env.caseCache.count == 0)
            let requests = [
                "GET /T/\(tokens[0]) HTTP/1.1\r\nHost: x\r\n\r\n",
                "GET /T/\(tokens[1])?lang=en HTTP/1.1\r\nHost: x\r\n\r\n",
                "GET /T/\(nowhere) HTTP/1.1\r\nHost: x\r\n\r\n",
                "GET /T/\(tokens[2])?lang=ar HTTP/1.1\r\nHost: x\r\n\r\n",
                "GET /T/\(tokens[0]) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            ]
            let answers = try await RawHTTP.exchange(port: port, requests.joined())
            try #require(answers.map(\.status) == [200, 200, 404, 200, 200])
            #expect(answers[0].body.contains("KL-2026-0000001") && answers[0].body.contains("<html lang=\"de\">"))
            #expect(answers[1].body.contains("KL-2026-0000002") && answers[1].body.contains("<html lang=\"en\">"))
            #expect(!answers[2].body.contains("KL-2026"))
            #expect(answers[3].body.contains("KL-2026-0000003") && answers[3].body.contains("dir=\"rtl\""))
            // the first two were misses answered here once read (the third case's page came after the router's 404)
            #expect(fast.answered >= 2, "\(fast.answered)")
            #expect(f.env.caseCache.count == 3)
            // one connection after another, each a miss: answered here, the same page as the router's
            let router = try await RawHTTP.exchange(port: port, "GET /T/\(tokens[1]) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let again = try await RawHTTP.exchange(port: port, "GET /T/\(tokens[1]) HTTP/1.1\r\nHost: x\r\n\r\n", answers: 1)
            #expect(router.first?.body == again.first?.body)
        }
    }

    /// Pipelined requests on one connection: a request for the router in between makes the later case
    /// pages wait for it, so the answers come back in the order of the requests.
    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let f = try await WebFixture()
        let token = try f.token("KL-2026-0000001")
        let fast = CaseFastPath()
        let app = buildApplication(environment: f.env, host: "127.0.0.1", port: 0, caseFastPath: fast)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // the case in the case cache first: a miss goes to the router (which reads off the event loop)
            #expect(try await client.execute(uri: "/T/\(token)", method: .get).status == .ok)
            let requests = [
                "GET /T/\(token) HTTP/1.1\r\nHost: x\r\n\r\n",
                "GET /verify HTTP/1.1\r\nHost: x\r\n\r\n",
                "GET /T/\(token)?lang=en HTTP/1.1\r\nHost: x\r\n\r\n",
                "GET /T/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: x\r\n\r\n",
                "GET /T/\(token) HTTP/1.1\r\nHost: x\r\n\r\n",
                "GET /T/\(token)?lang=en HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            ]
            let answers = try await RawHTTP.exchange(port: port, requests.joined())
            try #require(answers.map(\.status) == [200, 200, 200, 404, 200, 200])
            #expect(answers[0].body.contains("<html lang=\"de\">") && answers[0].body.contains("KL-2026-0000001"))
            #expect(answers[1].body.contains("/verify") || answers[1].body.contains("echt"))
            #expect(answers[2].body.contains("<html lang=\"en\">") && answers[2].body.contains("KL-2026-0000001"))
            #expect(!answers[3].body.contains("KL-2026"))
            #expect(answers[4].body.contains("<html lang=\"de\">"))
            #expect(answers[5].body.contains("<html lang=\"en\">"))
            // the first page came from the pipeline; the later ones arrived while /verify was still being
            // answered and went to the router (had the bytes come in several reads, some might have been
            // answered here as well, after the router's answers: the order above is what counts)
            #expect(fast.answered >= 1)
        }
    }
}

/// HTTP/1.1 over a plain socket: sends bytes at once (pipelining), reads answers until the server closes.
enum RawHTTP {
    struct Answer {
        var status: Int
        var body: String
    }

    /// Reads until the server closes, or until `answers` complete answers arrived. The blocking socket
    /// calls run on a Dispatch thread: on the test's own (cooperative) thread they could starve the
    /// server's tasks when tests run in parallel.
    static func exchange(port: Int, _ text: String, answers: Int? = nil, head: Bool = false) async throws -> [Answer] {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try blockingExchange(port: port, text, answers: answers, head: head) })
            }
        }
    }

    static func blockingExchange(port: Int, _ text: String, answers: Int?, head: Bool) throws -> [Answer] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == bytes.count else { throw POSIXError(.EIO) }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            received += chunk[0..<n]
            if let answers, parse(received, head: head).count >= answers { break }
        }
        return parse(received, head: head)
    }

    /// `head`: answers to HEAD requests (a length, no body).
    static func parse(_ bytes: [UInt8], head: Bool = false) -> [Answer] {
        var answers: [Answer] = []
        var i = 0
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        while i < bytes.count {
            guard let end = (i..<(bytes.count - 3)).first(where: { Array(bytes[$0..<$0 + 4]) == separator }) else { break }
            let lines = String(decoding: bytes[i..<end], as: UTF8.self).components(separatedBy: "\r\n")
            let statusLine = lines[0].split(separator: " ")
            let status = statusLine.count > 1 ? Int(statusLine[1]) ?? 0 : 0
            let length =
                lines.dropFirst().compactMap { line -> Int? in
                    let parts = line.split(separator: ":", maxSplits: 1)
                    return parts.count == 2 && parts[0].lowercased() == "content-length" ? Int(parts[1].trimmingCharacters(in: .whitespaces)) : nil
                }.first ?? 0
            let bodyStart = end + 4
            let bodyLength = head ? 0 : length
            guard bodyStart + bodyLength <= bytes.count else { break }
            let bodyEnd = bodyStart + bodyLength
            answers.append(Answer(status: status, body: String(decoding: bytes[bodyStart..<bodyEnd], as: UTF8.self)))
            i = bodyEnd
        }
        return answers
    }
}
