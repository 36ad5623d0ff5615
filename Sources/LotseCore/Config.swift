import Foundation

/// Configuration from the environment (`LOTSE_*`), with defaults that make `lotse demo` and
/// `lotse serve` work without any.
public struct LotseConfig: Sendable {
    public var dataDir: String
    public var publicBaseURL: String
    public var paymentDays: Int
    public var graceDays: Int
    public var caseNumberPrefix: String
    public var cataloguePath: String
    public var payeeName: String?
    public var payeeIBAN: String?
    public var payeeBIC: String?
    public var officeToken: String?
    public var evaluatorToken: String?
    public var paypalAPIBase: String
    public var paypalClientID: String?
    public var paypalClientSecret: String?
    public var paypalWebhookID: String?
    public var cityName: String
    /// Extra CA certificates for outgoing TLS (a test CA); verification itself is never switched off.
    public var caFile: String?
    /// Total timeout of one call to the payment provider, in seconds.
    public var paypalTimeout: Double
    /// How often `serve` asks the provider about orders left open, and after how many seconds untouched.
    public var paymentSweepSeconds: Double
    public var paymentSweepAge: Int64
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
    /// PayPal is offered only with client id and secret.
    public var paypalConfigured: Bool { paypalClientID != nil && paypalClientSecret != nil }

    public init(environment env: [String: String] = ProcessInfo.processInfo.environment) {
        func value(_ key: String) -> String? {
            guard let v = env[key]?.trimmingSpaces(), !v.isEmpty else { return nil }
            return v
        }
        dataDir = value("LOTSE_DATA_DIR") ?? "./lotse-data"
        var base = value("LOTSE_PUBLIC_BASE_URL") ?? "http://127.0.0.1:8080"
        while base.hasSuffix("/") { base.removeLast() }
        publicBaseURL = base
        paymentDays = value("LOTSE_PAYMENT_DAYS").flatMap(Int.init) ?? 7
        graceDays = value("LOTSE_GRACE_DAYS").flatMap(Int.init) ?? 5
        caseNumberPrefix = value("LOTSE_CASE_PREFIX") ?? "KL"
        cataloguePath = value("LOTSE_CATALOGUE") ?? LotseConfig.findPilotData("tbnr-parking.csv")
        payeeName = value("LOTSE_PAYEE_NAME")
        payeeIBAN = value("LOTSE_PAYEE_IBAN")
        payeeBIC = value("LOTSE_PAYEE_BIC")
        officeToken = value("LOTSE_OFFICE_TOKEN")
        evaluatorToken = value("LOTSE_EVALUATOR_TOKEN")
        paypalAPIBase = value("LOTSE_PAYPAL_API_BASE") ?? "https://api-m.sandbox.paypal.com"
        paypalClientID = value("LOTSE_PAYPAL_CLIENT_ID")
        paypalClientSecret = value("LOTSE_PAYPAL_CLIENT_SECRET")
        paypalWebhookID = value("LOTSE_PAYPAL_WEBHOOK_ID")
        cityName = value("LOTSE_CITY_NAME") ?? "Kaiserslautern"
        caFile = value("LOTSE_CA_FILE")
        paypalTimeout = value("LOTSE_PAYPAL_TIMEOUT").flatMap(Double.init) ?? 20
        paymentSweepSeconds = value("LOTSE_PAYMENT_SWEEP_SECONDS").flatMap(Double.init) ?? 120
        paymentSweepAge = value("LOTSE_PAYMENT_SWEEP_AGE").flatMap { Int64($0) } ?? 600
        trustedProxies = (value("LOTSE_TRUSTED_PROXIES") ?? "").split(separator: ",").map { String($0).trimmingSpaces() }
            .filter { !$0.isEmpty }
        metricsToken = value("LOTSE_METRICS_TOKEN")
        idleTimeout = value("LOTSE_IDLE_TIMEOUT").flatMap(Double.init).flatMap { $0 > 0 ? $0 : nil } ?? 60
        readTimeout = value("LOTSE_READ_TIMEOUT").flatMap(Double.init).flatMap { $0 > 0 ? $0 : nil } ?? 30
        qrWorkers = value("LOTSE_QR_WORKERS").flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil }
    }

    /// The database file inside the data directory.
    public var databasePath: String { dataDir + "/lotse.sqlite" }

    /// Looks for `pilot-data/NAME` in `LOTSE_PILOT_DATA`, the working directory and next to the executable.
    public static func findPilotData(_ name: String) -> String {
        let env = ProcessInfo.processInfo.environment
        var candidates: [String] = []
        if let dir = env["LOTSE_PILOT_DATA"] { candidates.append(dir + "/" + name) }
        candidates.append("pilot-data/" + name)
        let exe = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(dir.appendingPathComponent("pilot-data/" + name).path)
            dir = dir.deletingLastPathComponent()
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? candidates[0]
    }
}
