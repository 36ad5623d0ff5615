import Foundation
import Logging
import LotseCore
import LotseHTTP
import Synchronization

/// A PayPal error reply (`{name, message, debug_id, details: [{issue, description}]}`) or a failed call.
public struct PayPalError: Error, CustomStringConvertible {
    public var status: Int
    public var name: String
    public var issue: String?
    public var message: String
    public var debugID: String?

    public var description: String {
        "PayPal \(status) \(name)\(issue.map { " (\($0))" } ?? ""): \(message)\(debugID.map { " [debug id \($0)]" } ?? "")"
    }
}

/// PayPal's REST API (formats §5): OAuth2 client credentials with a cached token, Orders v2, webhook
/// verification. Every create and capture carries a `PayPal-Request-Id`; timeouts and 5xx are retried with
/// the same id (bounded, with backoff), so a retry can never create or capture twice.
public final class PayPalAPI: Sendable {
    public let base: String
    let clientID: String
    let secret: String
    let http: CurlClient
    let logger: Logger
    let retries: Int
    let backoff: Double
    private let token = Mutex<(value: String, expires: Double)?>(nil)

    public init(
        base: String,
        clientID: String,
        secret: String,
        http: CurlClient,
        logger: Logger = Logger(label: "lotse.paypal"),
        retries: Int = 4,
        backoff: Double = 0.2
    ) {
        var b = base
        while b.hasSuffix("/") { b.removeLast() }
        self.base = b
        self.clientID = clientID
        self.secret = secret
        self.http = http
        self.logger = logger
        self.retries = retries
        self.backoff = backoff
    }

    func accessToken(renew: Bool = false) async throws -> String {
        let now = Date().timeIntervalSince1970
        if !renew, let t = token.withLock({ $0 }), t.expires > now { return t.value }
        let basic = Data((clientID + ":" + secret).utf8).base64EncodedString()
        let reply = try await withRetries("token") {
            try await self.http.send(
                OutboundRequest(
                    method: "POST",
                    url: self.base + "/v1/oauth2/token",
                    headers: [
                        ("Authorization", "Basic " + basic),
                        ("Content-Type", "application/x-www-form-urlencoded"),
                        ("Accept", "application/json"),
                    ],
                    body: Array("grant_type=client_credentials".utf8)
                )
            )
        }
        guard reply.status == 200, let obj = Self.object(reply.body), let value = obj["access_token"] as? String else {
            throw Self.error(reply)
        }
        let expiresIn = (obj["expires_in"] as? Double) ?? Double((obj["expires_in"] as? Int) ?? 300)
        // Renewed shortly before it runs out.
        token.withLock { $0 = (value, now + max(expiresIn - 60, expiresIn / 2)) }
        return value
    }

    /// Calls the API with the bearer token: a 401 fetches a new token once; transient failures are retried
    /// with the same request id.
    public func call(_ method: String, _ path: String, json: Any? = nil, raw: [UInt8]? = nil, requestID: String? = nil) async throws -> OutboundReply
    {
        var renewed = false
        while true {
            let t = try await accessToken(renew: false)
            var headers = [("Authorization", "Bearer " + t), ("Accept", "application/json"), ("Prefer", "return=representation")]
            var body: [UInt8]?
            if let raw {
                headers.append(("Content-Type", "application/json"))
                body = raw
            } else if let json {
                headers.append(("Content-Type", "application/json"))
                body = Array(try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]))
            } else if method == "POST" {
                headers.append(("Content-Type", "application/json"))
                body = Array("{}".utf8)
            }
            if let r = requestID { headers.append(("PayPal-Request-Id", r)) }
            let request = OutboundRequest(method: method, url: base + path, headers: headers, body: body)
            let reply = try await withRetries(path) { try await self.http.send(request) }
            if reply.status == 401 && !renewed {
                renewed = true
                token.withLock { $0 = nil }
                continue
            }
            if let d = reply.debugID {
                logger.debug("paypal \(method) \(Self.pathShape(path)) -> \(reply.status)", metadata: ["paypal-debug-id": "\(d)"])
            }
            return reply
        }
    }

    /// Retries timeouts, connection failures, 5xx and 429 (`Retries`).
    func withRetries(_ what: String, _ body: () async throws -> OutboundReply) async throws -> OutboundReply {
        try await Retries(count: retries, backoff: backoff, logger: logger, label: "paypal").run(Self.pathShape(what), body)
    }

    /// Order ids are not personal, but keep log lines uniform.
    static func pathShape(_ p: String) -> String {
        p.split(separator: "/").map { $0.count > 12 ? "…" : String($0) }.joined(separator: "/")
    }

    static func object(_ body: [UInt8]) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }

    static func error(_ r: OutboundReply) -> PayPalError {
        let o = object(r.body) ?? [:]
        let details = o["details"] as? [[String: Any]]
        return PayPalError(
            status: r.status,
            name: (o["name"] as? String) ?? (o["error"] as? String) ?? "HTTP_\(r.status)",
            issue: details?.first?["issue"] as? String,
            message: (o["message"] as? String) ?? (o["error_description"] as? String) ?? "unexpected reply",
            debugID: (o["debug_id"] as? String) ?? r.debugID
        )
    }

    // MARK: Orders v2

    public struct Order: Sendable {
        public var id: String
        public var status: String
        public var payerActionURL: String?
        /// The invoice id of the first purchase unit (the case number).
        public var invoiceID: String?
        /// The captures of the first purchase unit, in PayPal's order (more than one only if PayPal captured twice).
        public var captures: [Capture]
        /// The first capture: id, status, amount value and currency.
        public var capture: Capture? { captures.first }
    }

    public struct Capture: Sendable, Equatable {
        public var id: String
        public var status: String
        public var value: String
        public var currency: String
        public var orderID: String?
    }

    static func order(_ o: [String: Any]) -> Order? {
        guard let id = o["id"] as? String, let status = o["status"] as? String else { return nil }
        let links = (o["links"] as? [[String: Any]]) ?? []
        let action = links.first { $0["rel"] as? String == "payer-action" } ?? links.first { $0["rel"] as? String == "approve" }
        let pu = (o["purchase_units"] as? [[String: Any]])?.first
        let captures = ((pu?["payments"] as? [String: Any])?["captures"] as? [[String: Any]] ?? []).compactMap { c -> Capture? in
            var capture = Self.capture(c)
            capture?.orderID = id
            return capture
        }
        return Order(
            id: id,
            status: status,
            payerActionURL: action?["href"] as? String,
            invoiceID: pu?["invoice_id"] as? String,
            captures: captures
        )
    }

    static func capture(_ c: [String: Any]) -> Capture? {
        guard let id = c["id"] as? String, let status = c["status"] as? String,
            let amount = c["amount"] as? [String: Any], let value = amount["value"] as? String,
            let currency = amount["currency_code"] as? String
        else { return nil }
        let orderID = ((c["supplementary_data"] as? [String: Any])?["related_ids"] as? [String: Any])?["order_id"] as? String
        return Capture(id: id, status: status, value: value, currency: currency, orderID: orderID)
    }

    public func createOrder(
        caseNumber: String,
        amountCents: Int,
        locale: String,
        returnURL: String,
        cancelURL: String,
        requestID: String
    ) async throws -> Order {
        let body: [String: Any] = [
            "intent": "CAPTURE",
            "purchase_units": [
                [
                    "reference_id": caseNumber, "custom_id": caseNumber, "invoice_id": caseNumber,
                    "description": "Verwarnungsgeld \(caseNumber)",
                    "amount": ["currency_code": "EUR", "value": Money.plain(amountCents)],
                ]
            ],
            "payment_source": [
                "paypal": [
                    "experience_context": [
                        "return_url": returnURL, "cancel_url": cancelURL, "locale": locale,
                        "shipping_preference": "NO_SHIPPING", "user_action": "PAY_NOW",
                    ]
                ]
            ],
        ]
        let r = try await call("POST", "/v2/checkout/orders", json: body, requestID: requestID)
        guard r.status == 200 || r.status == 201, let o = Self.object(r.body).flatMap(Self.order) else { throw Self.error(r) }
        return o
    }

    public func getOrder(_ id: String) async throws -> Order {
        let r = try await call("GET", "/v2/checkout/orders/" + Self.escape(id))
        guard r.status == 200, let o = Self.object(r.body).flatMap(Self.order) else { throw Self.error(r) }
        return o
    }

    public enum CaptureResult: Sendable {
        case captured(Order)
        case notApproved
        case failed(PayPalError)
    }

    /// Captures; `ORDER_ALREADY_CAPTURED` reads the order and takes its capture.
    public func capture(_ id: String, requestID: String) async throws -> CaptureResult {
        let r = try await call("POST", "/v2/checkout/orders/" + Self.escape(id) + "/capture", requestID: requestID)
        if r.status == 200 || r.status == 201, let o = Self.object(r.body).flatMap(Self.order) { return .captured(o) }
        let e = Self.error(r)
        if r.status == 422 && e.issue == "ORDER_ALREADY_CAPTURED" { return .captured(try await getOrder(id)) }
        if r.status == 422 && (e.issue == "ORDER_NOT_APPROVED" || e.issue == "PAYER_ACTION_REQUIRED") { return .notApproved }
        return .failed(e)
    }

    public enum RefundResult: Sendable, Equatable {
        /// Refunded (or the refund is under way at PayPal: PENDING).
        case refunded(refundID: String, status: String)
        /// PayPal refused (e.g. already refunded in full, or the capture cannot be refunded).
        case refused(issue: String)
    }

    /// `POST /v2/payments/captures/{id}/refund`: the whole capture goes back. The request id makes a retry safe.
    /// `POST /v2/payments/captures/{id}/refund`: the whole capture, or `amountCents` of it (a surplus).
    public func refund(captureID: String, requestID: String, amountCents: Int? = nil) async throws -> RefundResult {
        let amount: Any? = amountCents.map { ["amount": ["currency_code": "EUR", "value": Money.plain($0)]] }
        let r = try await call("POST", "/v2/payments/captures/" + Self.escape(captureID) + "/refund", json: amount, requestID: requestID)
        if r.status == 200 || r.status == 201, let o = Self.object(r.body), let id = o["id"] as? String, let status = o["status"] as? String {
            return .refunded(refundID: id, status: status)
        }
        let e = Self.error(r)
        if r.status == 422 || r.status == 404 || r.status == 400 { return .refused(issue: e.issue ?? e.name) }
        throw e
    }

    /// `POST /v1/notifications/verify-webhook-signature`. The event is the body exactly as received (PayPal signs the
    /// CRC32 of those bytes): it is put into the request as it is, never parsed and written again.
    public func verifyWebhook(headers: [String: String], rawEvent: [UInt8], webhookID: String) async throws -> Bool {
        func h(_ n: String) -> String { headers[n.lowercased()] ?? "" }
        let fields: [String: Any] = [
            "auth_algo": h("PAYPAL-AUTH-ALGO"), "cert_url": h("PAYPAL-CERT-URL"),
            "transmission_id": h("PAYPAL-TRANSMISSION-ID"), "transmission_sig": h("PAYPAL-TRANSMISSION-SIG"),
            "transmission_time": h("PAYPAL-TRANSMISSION-TIME"), "webhook_id": webhookID,
        ]
        var body = Array(try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]))
        guard body.last == UInt8(ascii: "}") else { return false }
        body.removeLast()
        body += Array(#","webhook_event":"#.utf8) + rawEvent + [UInt8(ascii: "}")]
        let r = try await call("POST", "/v1/notifications/verify-webhook-signature", raw: body)
        guard r.status == 200, let o = Self.object(r.body) else { return false }
        return o["verification_status"] as? String == "SUCCESS"
    }

    static func escape(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
    }
}
