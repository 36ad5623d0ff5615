import Foundation
import Logging
import LotseCore
import LotseHTTP
import Synchronization

/// A reply of the e-payment platform that is not what was asked for: its `application/problem+json` (formats §6), or
/// an HTTP status without one.
public struct XBezahldiensteError: Error, CustomStringConvertible, Equatable {
    public var status: Int
    /// `NO_VALID_ORIGINATOR_OR_ENDPOINT`, `PAYMENT_EXISTS`, `CALCULATION_ERROR`, `BOOKING_DATA_MISSING`,
    /// `VALIDATION_ERROR`, `FORBIDDEN`, `UNSPECIFIED`; nil when the platform sent none.
    public var functionalCode: String?
    public var title: String

    public var description: String {
        "e-payment platform answered \(status)\(functionalCode.map { " \($0)" } ?? ""): \(title)"
    }
}

/// XBezahldienste 1.0.0 (formats §6) over the one libcurl client: create a payment transaction, read its state, and the
/// platform's status of this originator and endpoint. Authentication as the platform wants it: HTTP Basic (ePay21),
/// OAuth2 client credentials with a cached bearer token (pmPayment), or a client certificate (ePayBL, set on the
/// `CurlClient`). Timeouts and 5xx are retried (bounded, with backoff) with the same `requestId`, so a retry can never
/// make a second transaction.
public final class XBezahldiensteAPI: Sendable {
    public let config: XBezahldiensteConfig
    let http: CurlClient
    let logger: Logger
    let retries: Int
    let backoff: Double
    private let token = Mutex<(value: String, expires: Double)?>(nil)

    public init(
        config: XBezahldiensteConfig,
        http: CurlClient,
        logger: Logger = Logger(label: "lotse.xbd"),
        retries: Int = 4,
        backoff: Double = 0.2
    ) {
        self.config = config
        self.http = http
        self.logger = logger
        self.retries = retries
        self.backoff = backoff
    }

    /// One transaction as the platform reports it (`PaymentTransaction`).
    public struct Transaction: Sendable, Equatable {
        public var transactionID: String
        /// The pay page; only while `INITIAL`.
        public var redirectURL: String?
        /// `INITIAL`, `PAYED`, `FAILED`, `CANCELED`.
        public var status: String
        public var requestID: String?
        /// The amount and currency of the request the transaction was made for; nil when missing or not whole cents.
        public var amountCents: Int?
        public var currency: String?
        /// The platform's booking reference (its Kassenzeichen), which may come only after payment.
        public var reference: String?
        public var method: String?
    }

    /// What Lotse asks the platform to collect: one item, the case.
    public struct PaymentRequest: Sendable {
        public init(
            requestID: String,
            caseNumber: String,
            amountCents: Int,
            description: String,
            redirectURL: String,
            notifyURL: String,
            timestamp: Date
        ) {
            self.requestID = requestID
            self.caseNumber = caseNumber
            self.amountCents = amountCents
            self.description = description
            self.redirectURL = redirectURL
            self.notifyURL = notifyURL
            self.timestamp = timestamp
        }
        public var requestID: String
        public var caseNumber: String
        public var amountCents: Int
        public var description: String
        public var redirectURL: String
        public var notifyURL: String
        public var timestamp: Date
    }

    // MARK: calls

    /// `POST /paymenttransaction/{originatorId}/{endPointId}`.
    public func create(_ r: PaymentRequest) async throws -> Transaction {
        let reply = try await call("POST", transactionPath, body: Self.body(r))
        guard reply.status == 200 || reply.status == 201, let t = Self.transaction(reply.body) else { throw Self.error(reply) }
        return t
    }

    /// `GET /paymenttransaction/{originatorId}/{endPointId}/{transactionId}`.
    public func transaction(_ id: String) async throws -> Transaction {
        let escaped = id.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? id
        let reply = try await call("GET", transactionPath + "/" + escaped)
        guard reply.status == 200, let t = Self.transaction(reply.body) else { throw Self.error(reply) }
        return t
    }

    /// `GET /status/{originatorId}/{endPointId}`: 200 when the platform knows this originator and endpoint.
    public func platformStatus() async throws -> Int {
        try await call("GET", "/status/\(config.originatorID)/\(config.endPointID)").status
    }

    var transactionPath: String { "/paymenttransaction/\(config.originatorID)/\(config.endPointID)" }

    /// Calls the platform with its authentication: a 401 under OAuth2 fetches a new token once; timeouts, connection
    /// failures and 5xx are retried with the same body (the same `requestId`).
    func call(_ method: String, _ path: String, body: [UInt8]? = nil) async throws -> OutboundReply {
        var renewed = false
        while true {
            var headers = [("Accept", "application/json")]
            if body != nil { headers.append(("Content-Type", "application/json")) }
            switch config.auth {
            case .basic:
                let basic = Data(((config.clientID ?? "") + ":" + (config.clientSecret ?? "")).utf8).base64EncodedString()
                headers.append(("Authorization", "Basic " + basic))
            case .oauth2:
                headers.append(("Authorization", "Bearer " + (try await accessToken())))
            case .mtls:
                break  // the client certificate is the credential
            }
            let request = OutboundRequest(method: method, url: config.baseURL + path, headers: headers, body: body)
            let reply = try await withRetries(method, path) { try await self.http.send(request) }
            if reply.status == 401 && config.auth == .oauth2 && !renewed {
                renewed = true
                token.withLock { $0 = nil }
                continue
            }
            logger.debug("xbd \(method) \(Self.pathShape(path)) -> \(reply.status)")
            return reply
        }
    }

    /// OAuth2 client credentials (form body with client id and secret), cached until shortly before it runs out.
    func accessToken(renew: Bool = false) async throws -> String {
        let now = Date().timeIntervalSince1970
        if !renew, let t = token.withLock({ $0 }), t.expires > now { return t.value }
        let form = [
            "grant_type=client_credentials",
            "client_id=" + Self.formEscaped(config.clientID ?? ""),
            "client_secret=" + Self.formEscaped(config.clientSecret ?? ""),
        ].joined(separator: "&")
        let url = config.tokenURL ?? ""
        let reply = try await withRetries("POST", "token") {
            try await self.http.send(
                OutboundRequest(
                    method: "POST",
                    url: url,
                    headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")],
                    body: Array(form.utf8)
                )
            )
        }
        guard reply.status == 200, let obj = Self.object(reply.body), let value = obj["access_token"] as? String else {
            throw XBezahldiensteError(status: reply.status, functionalCode: nil, title: "the token endpoint refused the client credentials")
        }
        let expiresIn = (obj["expires_in"] as? NSNumber)?.doubleValue ?? 300
        token.withLock { $0 = (value, now + max(expiresIn - 60, expiresIn / 2)) }
        return value
    }

    /// Retries timeouts, connection failures, 5xx and 429 (`Retries`).
    func withRetries(_ method: String, _ path: String, _ body: () async throws -> OutboundReply) async throws -> OutboundReply {
        try await Retries(count: retries, backoff: backoff, logger: logger, label: "xbd").run(method + " " + Self.pathShape(path), body)
    }

    // MARK: the wire format

    /// The PaymentRequest: the case as the one item, amounts in euros as JSON numbers written from whole cents (never
    /// through a binary float), no `requestor` (no personal data leaves without need).
    public static func body(_ r: PaymentRequest) -> [UInt8] {
        let amount = euros(r.amountCents)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        let item =
            "{\"bookingData\":{\"caseNumber\":\(quoted(r.caseNumber)),\"notifyUrl\":\(quoted(r.notifyURL))},"
            + "\"description\":\(quoted(String(r.description.prefix(250)))),\"id\":\"1\",\"quantity\":1,"
            + "\"reference\":\(quoted(r.caseNumber)),\"singleNetAmount\":\(amount),\"singleTaxAmount\":0,"
            + "\"taxRate\":0,\"totalNetAmount\":\(amount),\"totalTaxAmount\":0}"
        let json =
            "{\"currency\":\"EUR\",\"description\":\(quoted(String(r.description.prefix(250)))),\"grosAmount\":\(amount),"
            + "\"items\":[\(item)],\"purpose\":\(quoted(purpose(r.caseNumber))),\"redirectUrl\":\(quoted(r.redirectURL)),"
            + "\"requestId\":\(quoted(r.requestID)),\"requestTimestamp\":\(quoted(formatter.string(from: r.timestamp)))}"
        return Array(json.utf8)
    }

    /// Cents as a JSON number in euros: `2500` → `25.00`.
    public static func euros(_ cents: Int) -> String {
        let sign = cents < 0 ? "-" : ""
        let c = abs(cents)
        return sign + String(c / 100) + "." + (c % 100 < 10 ? "0" : "") + String(c % 100)
    }

    /// The booking text: at most 27 letters, digits, spaces and hyphens.
    public static func purpose(_ caseNumber: String) -> String {
        let allowed = caseNumber.unicodeScalars.map { s -> Character in
            (s.properties.isAlphabetic && s.isASCII) || ("0"..."9").contains(s) || s == " " || s == "-" ? Character(s) : "-"
        }
        return String(String(allowed).prefix(27))
    }

    static func quoted(_ s: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8)
        let text = String(decoding: data, as: UTF8.self)
        return String(text.dropFirst().dropLast())
    }

    static func formEscaped(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    static func object(_ body: [UInt8]) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }

    /// Whole cents of a JSON amount in euros; nil when it is not a number of whole cents.
    public static func cents(_ value: Any?) -> Int? {
        let d: Double
        switch value {
        case let i as Int: d = Double(i)
        case let x as Double: d = x
        case let n as NSNumber: d = n.doubleValue
        case let s as String:
            // some platforms write amounts as strings: "25.00"
            guard let cents = Money.parseCents(s.trimmingCharacters(in: .whitespaces)) else { return nil }
            return cents
        default: return nil
        }
        guard d.isFinite, abs(d) < 1e11 else { return nil }
        let c = (d * 100).rounded()
        return abs(d * 100 - c) < 0.000_1 ? Int(c) : nil
    }

    static func transaction(_ body: [UInt8]) -> Transaction? {
        guard let o = object(body), let info = o["paymentInformation"] as? [String: Any],
            let id = info["transactionId"] as? String, let status = info["status"] as? String
        else { return nil }
        let request = o["paymentRequest"] as? [String: Any]
        return Transaction(
            transactionID: id,
            redirectURL: info["transactionRedirectUrl"] as? String,
            status: status,
            requestID: request?["requestId"] as? String,
            amountCents: cents(request?["grosAmount"]),
            currency: request?["currency"] as? String,
            reference: info["transactionReference"] as? String,
            method: info["paymentMethod"] as? String
        )
    }

    static func error(_ r: OutboundReply) -> XBezahldiensteError {
        let o = object(r.body) ?? [:]
        return XBezahldiensteError(
            status: r.status,
            functionalCode: o["functionalCode"] as? String,
            title: (o["title"] as? String) ?? (o["detail"] as? String) ?? "unexpected reply"
        )
    }

    /// Transaction ids are not personal, but keep log lines short and uniform.
    static func pathShape(_ p: String) -> String {
        p.split(separator: "/").map { $0.count > 12 ? "…" : String($0) }.joined(separator: "/")
    }
}
