import Foundation

/// Configuration from the environment (`LOTSE_*`), read and validated once at start by the executable, with
/// defaults that make `lotse demo` and `lotse serve` work without any. A number or a switch that does not parse is
/// a `ConfigError`, never a silent default. Libraries take a `LotseConfig`; none reads the environment itself.
public struct LotseConfig: Sendable {
    public var dataDir: String
    public var publicBaseURL: String
    public var paymentDays: Int
    public var graceDays: Int
    /// Days a payment made before its ticket was imported waits for the ticket (`LOTSE_PENDING_DAYS`) before it goes
    /// to the refund list.
    public var pendingDays: Int
    /// Days after a case is closed (paid, cancelled, handed over) until its personal data is erased
    /// (`LOTSE_RETENTION_DAYS`).
    public var retentionDays: Int
    /// How the server writes its log (`LOTSE_LOG_FORMAT`).
    public var logFormat: LogFormat
    public var caseNumberPrefix: String
    public var cataloguePath: String
    /// The folder with `templates/` and `public/` (`LOTSE_RESOURCES`; default: the parent of `pilot-data/`).
    public var resourceRoot: String
    public var payeeName: String?
    public var payeeIBAN: String?
    public var payeeBIC: String?
    /// Demo mode (`LOTSE_DEMO=1`, as `make demo` serves): without `LOTSE_PAYEE_*` the GiroCode uses a clearly
    /// marked demo account.
    public var demo: Bool
    public var officeToken: String?
    public var evaluatorToken: String?
    public var paypalAPIBase: String
    public var paypalClientID: String?
    public var paypalClientSecret: String?
    public var paypalWebhookID: String?
    /// How a PayPal webhook is verified (`LOTSE_PAYPAL_WEBHOOK_VERIFICATION`, formats §5): by asking PayPal's API, or
    /// offline against PayPal's certificate.
    public var paypalWebhookVerification: WebhookVerification
    public var cityName: String
    /// The authority that issues the tickets and confirms payments (`LOTSE_AUTHORITY`; default "Stadtverwaltung"
    /// and the city), and its postal address on one line (`LOTSE_AUTHORITY_ADDRESS`), printed on every receipt.
    public var authorityName: String
    public var authorityAddress: String?
    /// Extra CA certificates for outgoing TLS (a test CA); verification itself is never switched off.
    public var caFile: String?
    /// Total timeout of one call to the payment provider, in seconds.
    public var paypalTimeout: Double
    /// How often `serve` asks the provider about orders left open, and after how many seconds untouched.
    public var paymentSweepSeconds: Double
    public var paymentSweepAge: Int64
    /// How often `serve` writes the page views it counted (`LOTSE_VIEW_FLUSH_SECONDS`): see `EventRecorder`.
    public var viewFlushSeconds: Double
    /// Proxies whose `X-Forwarded-For` is believed (`LOTSE_TRUSTED_PROXIES`: comma-separated CIDRs or
    /// addresses, IPv4 and IPv6); empty: the socket's address is the client.
    public var trustedProxies: [String]
    /// Bearer token for `/metrics` (`LOTSE_METRICS_TOKEN`); nil: `/metrics` is open.
    public var metricsToken: String?
    /// Seconds a connection may stay idle between requests (`LOTSE_IDLE_TIMEOUT`), and the most seconds
    /// between the parts of a request being read, the first request's head included (`LOTSE_READ_TIMEOUT`).
    public var idleTimeout: Double
    public var readTimeout: Double
    /// Threads for `lotse qr` (LOTSE_QR_WORKERS, a positive whole number; nil: one per core).
    public var qrWorkers: Int?
    /// The city's e-payment platform through XBezahldienste (formats §6); nil without `LOTSE_XBD_BASE_URL`.
    public var xbd: XBezahldiensteConfig?
    /// Headless Chromium for the dashboard's PDF report (`LOTSE_CHROMIUM`: a path, or `off`; default: the first of
    /// `chromium`, `chromium-browser`, `google-chrome` on `PATH`); nil: no PDF, the page says to print instead.
    public var chromiumPath: String?
    /// PayPal is offered only with client id and secret.
    public var paypalConfigured: Bool { paypalClientID != nil && paypalClientSecret != nil }

    /// The longest duration a setting in seconds may have (about 11.5 days): larger values overflow the
    /// server's nanosecond timers.
    public static let maximumSeconds: Double = 1_000_000

    /// Reads every `LOTSE_*` setting from `environment` (the executable passes the process's). Text settings that
    /// are set but empty count as unset; a number or a switch that is empty or does not parse throws.
    public init(environment: [String: String]) throws(ConfigError) {
        let settings = Settings(environment)
        dataDir = settings.text("LOTSE_DATA_DIR") ?? "./lotse-data"
        var base = settings.text("LOTSE_PUBLIC_BASE_URL") ?? "http://127.0.0.1:8080"
        while base.hasSuffix("/") { base.removeLast() }
        publicBaseURL = base
        paymentDays = try settings.wholeNumber("LOTSE_PAYMENT_DAYS", in: 1...365, unit: "days") ?? 7
        graceDays = try settings.wholeNumber("LOTSE_GRACE_DAYS", in: 0...365, unit: "days") ?? 5
        pendingDays = try settings.wholeNumber("LOTSE_PENDING_DAYS", in: 1...365, unit: "days") ?? 21
        retentionDays = try settings.wholeNumber("LOTSE_RETENTION_DAYS", in: 1...3650, unit: "days") ?? 180
        logFormat = try settings.choice("LOTSE_LOG_FORMAT", LogFormat.self) ?? .text
        caseNumberPrefix = settings.text("LOTSE_CASE_PREFIX") ?? "KL"
        cataloguePath = settings.text("LOTSE_CATALOGUE") ?? LotseConfig.findPilotData("tbnr-parking.csv", environment: environment)
        resourceRoot = settings.text("LOTSE_RESOURCES") ?? LotseConfig.defaultResourceRoot(environment: environment)
        payeeName = settings.text("LOTSE_PAYEE_NAME")
        payeeIBAN = settings.text("LOTSE_PAYEE_IBAN")
        payeeBIC = settings.text("LOTSE_PAYEE_BIC")
        demo = try settings.flag("LOTSE_DEMO") ?? false
        officeToken = settings.text("LOTSE_OFFICE_TOKEN")
        evaluatorToken = settings.text("LOTSE_EVALUATOR_TOKEN")
        paypalAPIBase = settings.text("LOTSE_PAYPAL_API_BASE") ?? "https://api-m.sandbox.paypal.com"
        paypalClientID = settings.text("LOTSE_PAYPAL_CLIENT_ID")
        paypalClientSecret = settings.text("LOTSE_PAYPAL_CLIENT_SECRET")
        paypalWebhookID = settings.text("LOTSE_PAYPAL_WEBHOOK_ID")
        paypalWebhookVerification = try settings.choice("LOTSE_PAYPAL_WEBHOOK_VERIFICATION", WebhookVerification.self) ?? .api
        cityName = settings.text("LOTSE_CITY_NAME") ?? "Kaiserslautern"
        authorityName = settings.text("LOTSE_AUTHORITY") ?? "Stadtverwaltung " + cityName
        authorityAddress = settings.text("LOTSE_AUTHORITY_ADDRESS")
        caFile = settings.text("LOTSE_CA_FILE")
        paypalTimeout = try settings.seconds("LOTSE_PAYPAL_TIMEOUT") ?? 20
        paymentSweepSeconds = try settings.seconds("LOTSE_PAYMENT_SWEEP_SECONDS") ?? 120
        paymentSweepAge =
            try settings.wholeNumber("LOTSE_PAYMENT_SWEEP_AGE", in: 0...Int(LotseConfig.maximumSeconds), unit: "seconds")
            .map(Int64.init) ?? 600
        viewFlushSeconds = try settings.seconds("LOTSE_VIEW_FLUSH_SECONDS") ?? 5
        trustedProxies = (settings.text("LOTSE_TRUSTED_PROXIES") ?? "").split(separator: ",")
            .map { String($0).trimmingSpaces() }
            .filter { !$0.isEmpty }
        metricsToken = settings.text("LOTSE_METRICS_TOKEN")
        idleTimeout = try settings.seconds("LOTSE_IDLE_TIMEOUT") ?? 60
        readTimeout = try settings.seconds("LOTSE_READ_TIMEOUT") ?? 30
        qrWorkers = try settings.wholeNumber("LOTSE_QR_WORKERS", in: 1...1024, unit: "threads")
        xbd = try XBezahldiensteConfig(settings)
        switch settings.text("LOTSE_CHROMIUM") {
        case "off"?: chromiumPath = nil
        case let path?: chromiumPath = path
        case nil:
            let folders = (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
            chromiumPath = ["chromium", "chromium-browser", "google-chrome"].lazy
                .flatMap { name in folders.map { $0 + "/" + name } }
                .first { FileManager.default.isExecutableFile(atPath: $0) }
        }
    }

    /// The database file inside the data directory.
    public var databasePath: String { dataDir + "/lotse.sqlite" }
    /// The warden's photos (issue 16): 0700, files 0600, outside any web root.
    public var evidenceDirectory: String { dataDir + "/evidence" }

    /// Looks for `pilot-data/NAME` in `LOTSE_PILOT_DATA` (from `environment`), the working directory and next to
    /// the executable.
    public static func findPilotData(_ name: String, environment: [String: String]) -> String {
        var candidates: [String] = []
        if let dir = environment["LOTSE_PILOT_DATA"], !dir.isEmpty { candidates.append(dir + "/" + name) }
        candidates.append("pilot-data/" + name)
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
        var dir = executable.deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(dir.appendingPathComponent("pilot-data/" + name).path)
            dir = dir.deletingLastPathComponent()
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? candidates[0]
    }

    /// The parent of the `pilot-data/` folder that holds the catalogue.
    static func defaultResourceRoot(environment: [String: String]) -> String {
        let catalogue = findPilotData("tbnr-parking.csv", environment: environment)
        let root = ((catalogue as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
        return root.isEmpty ? "." : root
    }
}

/// How PayPal's webhooks are verified (formats §5).
public enum WebhookVerification: String, Sendable, CaseIterable {
    /// `POST /v1/notifications/verify-webhook-signature` (one call to PayPal per webhook).
    case api
    /// SHA256withRSA over `transmission_id|time|webhook_id|crc32(body)` against the certificate named in the webhook,
    /// fetched only from PayPal's hosts and cached.
    case offline
}

/// How Lotse proves to the e-payment platform who it is (not part of the standard; formats §6).
public enum XBezahldiensteAuth: String, Sendable, CaseIterable {
    /// HTTP Basic with client id and secret (ePay21).
    case basic
    /// OAuth2 client credentials to `LOTSE_XBD_TOKEN_URL`, then a bearer token (pmPayment).
    case oauth2
    /// Mutual TLS with a client certificate and key (ePayBL).
    case mtls
}

/// The e-payment platform's settings (`LOTSE_XBD_*`, formats §6), checked together: a platform half configured is an
/// error at start, not a button that fails when pressed.
public struct XBezahldiensteConfig: Sendable, Equatable {
    public var baseURL: String
    public var originatorID: String
    public var endPointID: String
    public var auth: XBezahldiensteAuth
    public var clientID: String?
    public var clientSecret: String?
    public var tokenURL: String?
    public var clientCert: String?
    public var clientKey: String?
    /// The button's text (default "Online bezahlen").
    public var label: String
    /// Where the platform's pay pages are (`LOTSE_XBD_PAY_ORIGIN`, space-separated origins; default: the origin of the
    /// base URL): the case page's Content-Security-Policy lets its pay form be redirected there, nowhere else.
    public var payOrigins: [String]

    /// What `originatorId` and `endPointId` may be: 1 to 36 characters of `[A-Za-z0-9_-]`.
    public static func isIdentifier(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 36
            && s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95 }
    }

    fileprivate init?(_ settings: Settings) throws(ConfigError) {
        guard var base = settings.text("LOTSE_XBD_BASE_URL") else { return nil }
        while base.hasSuffix("/") { base.removeLast() }
        baseURL = base
        func identifier(_ name: String) throws(ConfigError) -> String {
            let value = settings.text(name) ?? ""
            guard Self.isIdentifier(value) else {
                throw ConfigError(variable: name, value: value, expected: "1 to 36 letters, digits, '-' or '_' (set with LOTSE_XBD_BASE_URL)")
            }
            return value
        }
        originatorID = try identifier("LOTSE_XBD_ORIGINATOR_ID")
        endPointID = try identifier("LOTSE_XBD_ENDPOINT_ID")
        auth = try settings.choice("LOTSE_XBD_AUTH", XBezahldiensteAuth.self) ?? .basic
        clientID = settings.text("LOTSE_XBD_CLIENT_ID")
        clientSecret = settings.text("LOTSE_XBD_CLIENT_SECRET")
        tokenURL = settings.text("LOTSE_XBD_TOKEN_URL")
        clientCert = settings.text("LOTSE_XBD_CLIENT_CERT")
        clientKey = settings.text("LOTSE_XBD_CLIENT_KEY")
        label = settings.text("LOTSE_XBD_LABEL") ?? "Online bezahlen"
        payOrigins = (settings.text("LOTSE_XBD_PAY_ORIGIN") ?? "").split(separator: " ").map(String.init)
        for origin in payOrigins where !(origin.hasPrefix("https://") || origin.hasPrefix("http://127.") || origin.hasPrefix("http://localhost")) {
            throw ConfigError(variable: "LOTSE_XBD_PAY_ORIGIN", value: origin, expected: "https origins separated by spaces")
        }
        func required(_ name: String, _ value: String?, _ why: String) throws(ConfigError) {
            if value == nil { throw ConfigError(variable: name, value: "", expected: why) }
        }
        switch auth {
        case .basic:
            try required("LOTSE_XBD_CLIENT_ID", clientID, "the user name for LOTSE_XBD_AUTH=basic")
            try required("LOTSE_XBD_CLIENT_SECRET", clientSecret, "the password for LOTSE_XBD_AUTH=basic")
        case .oauth2:
            try required("LOTSE_XBD_CLIENT_ID", clientID, "the client id for LOTSE_XBD_AUTH=oauth2")
            try required("LOTSE_XBD_CLIENT_SECRET", clientSecret, "the client secret for LOTSE_XBD_AUTH=oauth2")
            try required("LOTSE_XBD_TOKEN_URL", tokenURL, "the token URL for LOTSE_XBD_AUTH=oauth2")
        case .mtls:
            try required("LOTSE_XBD_CLIENT_CERT", clientCert, "a PEM client certificate file for LOTSE_XBD_AUTH=mtls")
            try required("LOTSE_XBD_CLIENT_KEY", clientKey, "a PEM key file for LOTSE_XBD_AUTH=mtls")
        }
    }
}

/// The server's log: lines of text, or one JSON object per line (for a log collector).
public enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}

/// A setting that is set but does not say what it must: names the variable and the value, on one line.
public struct ConfigError: Error, Equatable, CustomStringConvertible, Sendable {
    public let variable: String
    public let value: String
    /// What the variable takes, e.g. "a whole number of days from 1 to 365".
    public let expected: String

    public var description: String {
        // quoted with escapes, so a value with a line break still makes one line; a long value is cut
        let shown = value.count > 40 ? String(value.prefix(40)) + "…" : value
        return "\(variable)=\(String(reflecting: shown)) is not valid: expected \(expected)"
    }
}

/// The environment as `LotseConfig` reads it: text, whole numbers, seconds and switches, each strictly.
private struct Settings {
    let environment: [String: String]

    init(_ environment: [String: String]) { self.environment = environment }

    /// The trimmed text; nil when unset or empty.
    func text(_ name: String) -> String? {
        guard let value = environment[name]?.trimmingSpaces(), !value.isEmpty else { return nil }
        return value
    }

    /// Nil when unset; otherwise ASCII digits only (no sign, no fraction, no unit) within `range`.
    func wholeNumber(_ name: String, in range: ClosedRange<Int>, unit: String) throws(ConfigError) -> Int? {
        guard let raw = environment[name] else { return nil }
        let expected = "a whole number of \(unit) from \(range.lowerBound) to \(range.upperBound)"
        let value = raw.trimmingSpaces()
        guard Settings.isDigits(Substring(value)), let number = Int(value), range.contains(number) else {
            throw ConfigError(variable: name, value: raw, expected: expected)
        }
        return number
    }

    /// Nil when unset; otherwise a decimal number of seconds (`30`, `0.5`), greater than 0 and at most
    /// `LotseConfig.maximumSeconds`.
    func seconds(_ name: String) throws(ConfigError) -> Double? {
        guard let raw = environment[name] else { return nil }
        let expected = "a number of seconds greater than 0 and at most \(Int(LotseConfig.maximumSeconds)), such as 30 or 0.5"
        let value = raw.trimmingSpaces()
        let parts = value.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard Settings.isDigits(parts[0]), parts.count == 1 || Settings.isDigits(parts[1]),
            let number = Double(value), number > 0, number <= LotseConfig.maximumSeconds
        else {
            throw ConfigError(variable: name, value: raw, expected: expected)
        }
        return number
    }

    /// Nil when unset; otherwise one of the values of `T`, exactly.
    func choice<T: RawRepresentable & CaseIterable>(_ name: String, _ type: T.Type) throws(ConfigError) -> T? where T.RawValue == String {
        guard let raw = environment[name] else { return nil }
        guard let value = T(rawValue: raw.trimmingSpaces()) else {
            throw ConfigError(variable: name, value: raw, expected: T.allCases.map(\.rawValue).joined(separator: " or "))
        }
        return value
    }

    /// Nil when unset; `1` or `true` is on, `0` or `false` is off.
    func flag(_ name: String) throws(ConfigError) -> Bool? {
        guard let raw = environment[name] else { return nil }
        switch raw.trimmingSpaces() {
        case "1", "true": return true
        case "0", "false": return false
        default: throw ConfigError(variable: name, value: raw, expected: "1 or true (on), 0 or false (off)")
        }
    }

    private static func isDigits(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
}
