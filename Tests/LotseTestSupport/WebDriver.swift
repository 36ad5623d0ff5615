import Foundation
import LotseHTTP

/// A real headless Chromium driven through chromedriver (W3C WebDriver), for the tests that use pages as a person does.
public final class WebDriver: @unchecked Sendable {
    let driver: Process
    let http = CurlClient(connectTimeout: 5, timeout: 60)
    let base: String
    public let session: String
    /// Where the browser saves downloads.
    public let downloads: String

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Whether chromium and chromedriver are installed (`make test` installs them).
    public static var available: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver") && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium")
    }

    /// `language`: what the browser asks pages for (Accept-Language).
    public init(width: Int = 1280, height: Int = 900, language: String = "de-DE,de", log: String) throws {
        let port = TestSupport.freePort()
        base = "http://127.0.0.1:\(port)"
        downloads = TestSupport.tempDir("lotse-downloads")
        driver = try TestSupport.startServer("/usr/bin/chromedriver", ["--port=\(port)"], log: log)
        var up = false
        for _ in 0..<100 where !up {
            up = (try? http.sendBlocking(OutboundRequest(url: base + "/status")))?.status == 200
            if !up { usleep(100_000) }
        }
        guard up else { throw Failure(description: "chromedriver did not start; see \(log)") }
        let capabilities: [String: Any] = [
            "capabilities": [
                "alwaysMatch": [
                    "browserName": "chrome",
                    "goog:chromeOptions": [
                        "binary": "/usr/bin/chromium",
                        "args": [
                            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=\(width),\(height)",
                            "--lang=de-DE",
                        ],
                        "prefs": ["download.default_directory": downloads, "download.prompt_for_download": false, "intl.accept_languages": language],
                    ] as [String: Any],
                ] as [String: Any]
            ]
        ]
        let reply = try Self.call(http, "POST", base + "/session", capabilities)
        guard let value = reply["value"] as? [String: Any], let id = value["sessionId"] as? String else {
            throw Failure(description: "no WebDriver session: \(reply)")
        }
        session = id
        // a page that does not load (a download) fails a command after 20 s instead of hanging the test
        try command("POST", "/timeouts", ["pageLoad": 20_000, "script": 10_000, "implicit": 0])
    }

    deinit { quit() }

    public func quit() {
        guard driver.isRunning else { return }
        _ = try? Self.call(http, "DELETE", base + "/session/" + session, nil)
        // chromedriver does not stop on SIGTERM: it is asked to, then killed
        _ = try? http.sendBlocking(OutboundRequest(url: base + "/shutdown"))
        for _ in 0..<20 where driver.isRunning { usleep(100_000) }
        if driver.isRunning { kill(driver.processIdentifier, SIGKILL) }
        driver.waitUntilExit()
    }

    static func call(_ http: CurlClient, _ method: String, _ url: String, _ body: Any?) throws -> [String: Any] {
        if ProcessInfo.processInfo.environment["LOTSE_WEBDRIVER_TRACE"] != nil {
            FileHandle.standardError.write(Data("webdriver: \(method) \(url.split(separator: "/").suffix(2).joined(separator: "/"))\n".utf8))
        }
        let data = try body.map { try JSONSerialization.data(withJSONObject: $0) }
        let r = try http.sendBlocking(
            OutboundRequest(
                method: method,
                url: url,
                headers: [("Content-Type", "application/json")],
                body: data.map { Array($0) } ?? (method == "POST" ? Array("{}".utf8) : nil)
            )
        )
        guard let object = (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any] else {
            throw Failure(description: "\(method) \(url): HTTP \(r.status) \(r.text.prefix(200))")
        }
        if r.status >= 400 { throw Failure(description: "\(method) \(url): \((object["value"] as? [String: Any])?["message"] ?? r.text)") }
        return object
    }

    @discardableResult
    func command(_ method: String, _ path: String, _ body: Any? = nil) throws -> Any? {
        try Self.call(http, method, base + "/session/" + session + path, body)["value"]
    }

    /// Opens `url` and waits for the page.
    public func go(_ url: String) throws { try command("POST", "/url", ["url": url]) }

    public var url: String { ((try? command("GET", "/url")) as? String) ?? "" }
    public var source: String { ((try? command("GET", "/source")) as? String) ?? "" }
    public var title: String { ((try? command("GET", "/title")) as? String) ?? "" }

    /// The first element matching the CSS selector.
    public func element(_ css: String) throws -> String {
        guard let found = try command("POST", "/element", ["using": "css selector", "value": css]) as? [String: Any],
            let id = found.values.first as? String
        else { throw Failure(description: "no element \(css)") }
        return id
    }

    public func type(_ css: String, _ text: String) throws {
        let e = try element(css)
        try command("POST", "/element/\(e)/clear")
        try command("POST", "/element/\(e)/value", ["text": text])
    }

    /// Gives a file input the file at `path` (as choosing it would).
    public func choose(_ css: String, file path: String) throws {
        try command("POST", "/element/\(try element(css))/value", ["text": path])
    }

    public func click(_ css: String) throws { try command("POST", "/element/\(try element(css))/click") }

    /// Runs JavaScript in the page and returns its result.
    @discardableResult
    public func script(_ js: String, _ args: [Any] = []) throws -> Any? { try command("POST", "/execute/sync", ["script": js, "args": args]) }

    /// Makes the window `width` × `height` (a phone, a laptop) and returns the page's viewport width as the page sees it.
    @discardableResult
    public func resize(width: Int, height: Int) throws -> Int {
        try command("POST", "/window/rect", ["width": width, "height": height])
        return (try script("return window.innerWidth") as? Int) ?? 0
    }

    /// Makes the page's viewport `width` × `height` (what a phone's screen shows): the window is resized, measured,
    /// and resized again by what the browser's own frame takes. Returns the viewport as the page sees it.
    @discardableResult
    public func viewport(width: Int, height: Int) throws -> (width: Int, height: Int) {
        try command("POST", "/window/rect", ["width": width, "height": height])
        func measure() throws -> (Int, Int) {
            let size = try script("return [window.innerWidth, window.innerHeight]") as? [Int] ?? [0, 0]
            return (size[0], size[1])
        }
        let (w, h) = try measure()
        if w != width || h != height {
            try command("POST", "/window/rect", ["width": width + (width - w), "height": height + (height - h)])
        }
        let (w2, h2) = try measure()
        return (w2, h2)
    }

    /// axe-core (`Tests/Resources/axe.min.js`, shipped with the tests) on the page as it is: the violations of the rules
    /// of WCAG 2.0 and 2.1, levels A and AA, each as `rule: help — the first elements`. Empty: none.
    public func accessibilityViolations() throws -> [String] {
        let axe = try String(contentsOfFile: TestSupport.root + "/Tests/Resources/axe.min.js", encoding: .utf8)
        try script(axe + "\n;return typeof axe;")
        let run = """
            const done = arguments[arguments.length - 1];
            axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
              .then(r => done(r.violations.map(v => v.id + ': ' + v.help + ' — ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))))
              .catch(e => done(['axe failed: ' + e]));
            """
        return try command("POST", "/execute/async", ["script": run, "args": []]) as? [String] ?? ["axe gave no answer"]
    }

    /// A PNG of the window.
    public func screenshot(to path: String) throws {
        guard let b64 = try command("GET", "/screenshot") as? String, let data = Data(base64Encoded: b64) else {
            throw Failure(description: "no screenshot")
        }
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// Waits until `condition` holds (or `seconds` pass).
    public func wait(_ seconds: Double = 10, until condition: () throws -> Bool) rethrows -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if try condition() { return true }
            usleep(100_000)
        }
        return try condition()
    }
}
