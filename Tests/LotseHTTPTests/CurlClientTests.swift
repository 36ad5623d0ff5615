import Foundation
import LotseHTTP
import LotseTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A small HTTP server on loopback (Python's standard library) with a redirect, a big body, a slow answer and an echo.
final class TestServer: @unchecked Sendable {
    let port = TestSupport.freePort()
    let process: Process
    var base: String { "http://127.0.0.1:\(port)" }

    init() throws {
        let dir = TestSupport.tempDir("lotse-http")
        let script = dir + "/server.py"
        TestSupport.write(
            script,
            """
            import http.server, sys, time
            class H(http.server.BaseHTTPRequestHandler):
                def log_message(self, *a): pass
                def reply(self, code, body=b"", headers=()):
                    self.send_response(code)
                    for k, v in headers: self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                def do_GET(self):
                    if self.path == "/redirect": self.reply(302, b"", [("Location", "/echo")])
                    elif self.path == "/big": self.reply(200, b"x" * 3000000)
                    elif self.path == "/slow": time.sleep(3); self.reply(200, b"late")
                    elif self.path == "/ok": self.reply(200, b"ok", [("Paypal-Debug-Id", "dbg123"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
                    else: self.reply(404)
                def do_POST(self):
                    n = int(self.headers.get("Content-Length", "0"))
                    body = self.rfile.read(n)
                    self.reply(201, self.command.encode() + b" " + body + b" " + self.headers.get("X-Test", "").encode())
            http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
            """
        )
        process = try TestSupport.startServer("/usr/bin/env", ["python3", script, String(port)], log: dir + "/log")
        let c = CurlClient(connectTimeout: 1, timeout: 2)
        for _ in 0..<100 {
            if (try? c.sendBlocking(OutboundRequest(url: base + "/ok")))?.status == 200 { return }
            usleep(50_000)
        }
    }

    // SIGKILL: a child of the test runner may inherit a mask that blocks SIGTERM.
    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

@Suite(.serialized) struct CurlClientTests {
    @Test func requestsHeadersBodiesAndTheDebugID() async throws {
        let s = try TestServer()
        let c = CurlClient(timeout: 5)
        let r = try await c.send(
            OutboundRequest(
                method: "POST",
                url: s.base + "/echo",
                headers: [("X-Test", "yes\r\nInjected: 1")],
                body: Array("hello".utf8)
            )
        )
        #expect(r.status == 201)
        // CR and LF never reach the wire: no header can be injected.
        #expect(r.text.hasPrefix("POST hello yes") && !r.text.contains("\n"))
        let ok = try await c.send(OutboundRequest(url: s.base + "/ok"))
        #expect(ok.debugID == "dbg123")
        #expect(ok.headers["set-cookie"] == "a=1\nb=2")
    }

    @Test func redirectsAreNotFollowed() async throws {
        let s = try TestServer()
        let r = try await CurlClient().send(OutboundRequest(url: s.base + "/redirect"))
        #expect(r.status == 302 && r.headers["location"] == "/echo")
    }

    @Test func responseSizeIsLimited() async throws {
        let s = try TestServer()
        await #expect(throws: HTTPClientError.tooLarge(1 << 20)) {
            try await CurlClient(maxResponseBytes: 1 << 20).send(OutboundRequest(url: s.base + "/big"))
        }
        let big = try await CurlClient(maxResponseBytes: 4 << 20).send(OutboundRequest(url: s.base + "/big"))
        #expect(big.body.count == 3_000_000)
    }

    @Test func timeoutsAreTransientErrors() async throws {
        let s = try TestServer()
        let start = Date()
        do {
            _ = try await CurlClient(connectTimeout: 1, timeout: 1).send(OutboundRequest(url: s.base + "/slow"))
            Issue.record("no timeout")
        } catch let e as HTTPClientError {
            #expect(e.isTransient)
            if case .timeout = e {} else { Issue.record("expected a timeout, got \(e)") }
        }
        #expect(Date().timeIntervalSince(start) < 2.5)
        // Nobody listening: a connection error, also transient.
        let closed = TestSupport.freePort()
        await #expect(throws: HTTPClientError.self) { try await CurlClient().send(OutboundRequest(url: "http://127.0.0.1:\(closed)/")) }
    }

    @Test func onlyHTTPSUnlessLoopback() async throws {
        for url in ["http://example.com/", "ftp://127.0.0.1/", "file:///etc/passwd", "gopher://x/", "http://10.0.0.1/"] {
            await #expect(throws: HTTPClientError.self) { try await CurlClient().send(OutboundRequest(url: url)) }
        }
        #expect(throws: Never.self) { try CurlClient.check("https://api-m.paypal.com") }
        #expect(throws: Never.self) { try CurlClient.check("http://127.0.0.1:8090") }
        #expect(throws: Never.self) { try CurlClient.check("http://localhost:8090") }
    }

    @Test func tlsVerificationCannotBeSkipped() async throws {
        // A TLS server with a self-signed certificate: refused, because verification is always on.
        let dir = TestSupport.tempDir("lotse-tls")
        let gen = try TestSupport.run(
            "/usr/bin/env",
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir + "/k.pem",
                "-out", dir + "/c.pem", "-days", "1", "-subj", "/CN=127.0.0.1",
            ]
        )
        guard gen.status == 0 else { return }  // no openssl on this machine: nothing to test here
        let port = TestSupport.freePort()
        let server = try TestSupport.startServer(
            "/usr/bin/env",
            [
                "openssl", "s_server", "-accept", String(port), "-cert", dir + "/c.pem",
                "-key", dir + "/k.pem", "-www", "-quiet",
            ],
            log: dir + "/log"
        )
        defer {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        usleep(500_000)
        await #expect(throws: HTTPClientError.self) {
            try await CurlClient(timeout: 3).send(OutboundRequest(url: "https://127.0.0.1:\(port)/"))
        }
    }
}
