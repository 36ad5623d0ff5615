// lotse-paypal-sim: PayPal's REST protocol (formats §5) on loopback, for tests and the offline demo.
// Token, orders create/get/capture with PayPal-Request-Id idempotency, the payer-action page that approves
// and redirects back (or cancels), webhooks it sends and can verify, and fault injection.
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import LotseCore
import LotseHTTP
import NIOCore
import Synchronization
import X509
import _CryptoExtras

struct Options {
    var host = "127.0.0.1"
    var port = 8090
    var clientID = "sim-client"
    var secret = "sim-secret"
    var webhookURL: String?
    var webhookID = "SIM-WEBHOOK"
    var seed: UInt64 = 1
    /// Fault rates, 0…1.
    var fail = 0.0  // 500 before doing anything
    var lostResponse = 0.0  // do the work, then answer 500 (the client must retry with the same request id)
    var slow = 0.0  // answer after `delay` seconds (longer than the client's timeout)
    var delay = 3.0
    var duplicateWebhooks = 0.0
    var dropWebhooks = 0.0
    var reorderWebhooks = 0.0
    var pendingCaptures = 0.0  // the capture is PENDING; COMPLETED follows by webhook
    var doubleCapture = 0.0  // a PayPal bug: a capture with a new request id captures again
    var repeatOrderIDs = false  // a provider fault: every new order gets the id of the first order (which stays as it is)
    var tokenLifetime = 32400

    static func parse(_ args: [String]) -> Options {
        var o = Options()
        var i = 1
        func next() -> String {
            i += 1
            return i < args.count ? args[i] : ""
        }
        while i < args.count {
            switch args[i] {
            case "--host": o.host = next()
            case "--port": o.port = Int(next()) ?? 8090
            case "--client-id": o.clientID = next()
            case "--client-secret": o.secret = next()
            case "--webhook-url": o.webhookURL = next()
            case "--webhook-id": o.webhookID = next()
            case "--seed": o.seed = UInt64(next()) ?? 1
            case "--fail": o.fail = Double(next()) ?? 0
            case "--lost-response": o.lostResponse = Double(next()) ?? 0
            case "--slow": o.slow = Double(next()) ?? 0
            case "--delay": o.delay = Double(next()) ?? 3
            case "--duplicate-webhooks": o.duplicateWebhooks = Double(next()) ?? 0
            case "--drop-webhooks": o.dropWebhooks = Double(next()) ?? 0
            case "--reorder-webhooks": o.reorderWebhooks = Double(next()) ?? 0
            case "--pending-captures": o.pendingCaptures = Double(next()) ?? 0
            case "--double-capture": o.doubleCapture = Double(next()) ?? 0
            case "--repeat-order-ids": o.repeatOrderIDs = true
            case "--token-lifetime": o.tokenLifetime = Int(next()) ?? 32400
            case "-h", "--help":
                print(
                    "usage: lotse-paypal-sim [--port P] [--webhook-url URL] [--webhook-id ID] [--client-id ID --client-secret S] [--seed N]\n"
                        + "  faults (rates 0..1): --fail --lost-response --slow [--delay S] --duplicate-webhooks --drop-webhooks\n"
                        + "  --reorder-webhooks --pending-captures --double-capture; --repeat-order-ids"
                )
                exit(0)
            default:
                FileHandle.standardError.write(Data("lotse-paypal-sim: unknown option \(args[i])\n".utf8))
                exit(2)
            }
            i += 1
        }
        return o
    }
}

struct SimCapture {
    var id: String
    var status: String
    var value: String
    var refundID: String? = nil
}

struct SimOrder {
    var id: String
    var status: String  // PAYER_ACTION_REQUIRED, APPROVED, COMPLETED, VOIDED
    var value: String
    var invoiceID: String
    var returnURL: String
    var cancelURL: String
    var captures: [SimCapture] = []
    var captureRequestIDs: Set<String> = []
}

/// `@unchecked Sendable`: its mutable state is `state`, a lock-protected box; the rest is set in `init` and only
/// read (`State` holds `[String: Any]` JSON replies, which the compiler cannot check, hence the unchecked).
final class Sim: @unchecked Sendable {
    let o: Options
    /// PayPal signs webhooks with SHA256withRSA; its certificate is served at `/v1/notifications/certs/sim`.
    let signingKey: _RSA.Signing.PrivateKey
    let certificatePEM: String
    struct State {
        var rng: SeededRandom
        var tokens: [String: Double] = [:]
        var orders: [String: SimOrder] = [:]
        var replies: [String: (Int, [String: Any])] = [:]
        var sent: [String: (eventID: String, body: [UInt8])] = [:]
        /// Every signed webhook, sent or dropped, with its headers (for tests: `/sim/webhooks`).
        var signed: [(headers: [(String, String)], body: [UInt8])] = []
        var firstOrderID: String?
        var counter = 0
    }
    let state: Mutex<State>
    let http = CurlClient(connectTimeout: 2, timeout: 5)

    init(_ o: Options) throws {
        self.o = o
        state = Mutex(State(rng: SeededRandom(seed: o.seed)))
        // a key and a self-signed certificate of this run, as PayPal's own signing certificate
        signingKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let key = Certificate.PrivateKey(signingKey)
        let name = try DistinguishedName { CommonName("lotse-paypal-sim webhook signing") }
        let now = Date()
        let certificate = try Certificate(
            version: .v3,
            serialNumber: .init(),
            publicKey: key.publicKey,
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(30 * 86_400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: Certificate.Extensions {},
            issuerPrivateKey: key
        )
        certificatePEM = try certificate.serializeAsPEM().pemString
    }

    func roll(_ p: Double) -> Bool {
        guard p > 0 else { return false }
        return state.withLock { $0.rng.chance(p) }
    }

    /// This process's part of every id: the start time and the process id, so that a simulator started again (the
    /// demo's live one after the one that built the demo data, with the same seed) never repeats an id.
    let instance = String(format: "%08X%05X", UInt32(truncatingIfNeeded: Int(Date().timeIntervalSince1970)), UInt32(getpid()) & 0xFFFFF)

    func newID(_ prefix: String) -> String {
        state.withLock { s in
            s.counter += 1
            return prefix + instance + String(format: "%06X", s.counter) + String(format: "%04X", Int(s.rng.next() % 0xFFFF))
        }
    }

    static func json(_ status: Int, _ obj: Any, headers: HTTPFields = [:]) -> Response {
        var h = headers
        h[.contentType] = "application/json"
        h[HTTPField.Name("Paypal-Debug-Id")!] = "sim" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let data = (try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: .init(code: status), headers: h, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func error(_ status: Int, _ name: String, _ issue: String?, _ message: String) -> Response {
        var o: [String: Any] = ["name": name, "message": message, "debug_id": "simdebug"]
        if let issue { o["details"] = [["issue": issue, "description": message]] }
        return json(status, o)
    }

    func authorized(_ req: Request) -> Bool {
        guard let h = req.headers[.authorization], h.hasPrefix("Bearer ") else { return false }
        let t = String(h.dropFirst(7))
        return state.withLock { ($0.tokens[t] ?? 0) > Date().timeIntervalSince1970 }
    }

    /// Injected faults before the work (fail, slow); returns a response to send instead, if any.
    func faultBefore() async -> Response? {
        if roll(o.fail) { return Self.error(500, "INTERNAL_SERVER_ERROR", nil, "injected failure") }
        if roll(o.slow) { try? await Task.sleep(nanoseconds: UInt64(o.delay * 1e9)) }
        return nil
    }

    func orderJSON(_ ord: SimOrder, base: String) -> [String: Any] {
        var pu: [String: Any] = [
            "reference_id": ord.invoiceID, "invoice_id": ord.invoiceID,
            "amount": ["currency_code": "EUR", "value": ord.value],
        ]
        if !ord.captures.isEmpty {
            pu["payments"] = [
                "captures": ord.captures.map { c in
                    [
                        "id": c.id, "status": c.status, "amount": ["currency_code": "EUR", "value": c.value],
                        "supplementary_data": ["related_ids": ["order_id": ord.id]],
                    ] as [String: Any]
                }
            ]
        }
        return [
            "id": ord.id, "status": ord.status, "intent": "CAPTURE", "purchase_units": [pu],
            "links": [
                ["rel": "self", "href": base + "/v2/checkout/orders/" + ord.id, "method": "GET"],
                ["rel": "payer-action", "href": base + "/checkoutnow?token=" + ord.id, "method": "GET"],
            ],
        ]
    }

    var base: String { "http://\(o.host):\(o.port)" }

    // MARK: webhooks

    func sendWebhook(_ type: String, resource: [String: Any], force: Bool = false) {
        guard let url = o.webhookURL else { return }
        let dropped = !force && roll(o.dropWebhooks)
        let eventID = newID("WH-")
        let event: [String: Any] = [
            "id": eventID, "event_type": type, "resource_type": type.hasPrefix("CHECKOUT") ? "checkout-order" : "capture",
            "create_time": ISO8601DateFormatter().string(from: Date()), "resource": resource,
        ]
        let body = Array((try? JSONSerialization.data(withJSONObject: event, options: [.sortedKeys])) ?? Data())
        let copies = dropped ? 1 : roll(o.duplicateWebhooks) ? 2 : 1
        let delay = roll(o.reorderWebhooks) ? 0.3 + Double(state.withLock { $0.rng.next() % 700 }) / 1000 : 0.02
        for _ in 0..<copies {
            let tid = UUID().uuidString
            let time = ISO8601DateFormatter().string(from: Date())
            let crc = CRC32.checksum(body)
            let message = "\(tid)|\(time)|\(o.webhookID)|\(crc)"
            let sig = ((try? signingKey.signature(for: Data(message.utf8), padding: .insecurePKCS1v1_5).rawRepresentation) ?? Data())
                .base64EncodedString()
            let headers = [
                ("Content-Type", "application/json"), ("PAYPAL-TRANSMISSION-ID", tid), ("PAYPAL-TRANSMISSION-TIME", time),
                ("PAYPAL-TRANSMISSION-SIG", sig), ("PAYPAL-CERT-URL", base + "/v1/notifications/certs/sim"),
                ("PAYPAL-AUTH-ALGO", "SHA256withRSA"),
            ]
            state.withLock {
                $0.sent[tid] = (eventID, body)
                $0.signed.append((headers, body))
            }
            if dropped { return }
            let http = self.http
            Task.detached {
                try? await Task.sleep(nanoseconds: UInt64(delay * 1e9))
                // PayPal retries a webhook that was not answered with 2xx.
                for attempt in 0..<5 {
                    if let r = try? await http.send(OutboundRequest(method: "POST", url: url, headers: headers, body: body)),
                        r.status / 100 == 2 || r.status == 400
                    {
                        break
                    }
                    try? await Task.sleep(nanoseconds: UInt64(0.2 * pow(2, Double(attempt)) * 1e9))
                }
            }
        }
    }

    /// PayPal's check: the signature is over `transmission_id|time|webhook_id|crc32(body)`, and the event asked about must
    /// be the very bytes that were sent (a re-serialised or changed event fails, as its CRC32 does at PayPal).
    func verify(_ raw: [UInt8]) -> Bool {
        guard let req = (try? JSONSerialization.jsonObject(with: Data(raw))) as? [String: Any],
            let tid = req["transmission_id"] as? String, let time = req["transmission_time"] as? String,
            let sig = req["transmission_sig"] as? String, let webhookID = req["webhook_id"] as? String,
            let event = RawJSON.member(raw, "webhook_event"),
            webhookID == o.webhookID, let sent = state.withLock({ $0.sent[tid] }), sent.body == event
        else { return false }
        let message = "\(tid)|\(time)|\(webhookID)|\(CRC32.checksum(event))"
        guard let given = Data(base64Encoded: sig) else { return false }
        return signingKey.publicKey.isValidSignature(
            _RSA.Signing.RSASignature(rawRepresentation: given),
            for: Data(message.utf8),
            padding: .insecurePKCS1v1_5
        )
    }

    func captureResource(_ ord: SimOrder, _ c: SimCapture) -> [String: Any] {
        [
            "id": c.id, "status": c.status, "amount": ["currency_code": "EUR", "value": c.value], "invoice_id": ord.invoiceID,
            "supplementary_data": ["related_ids": ["order_id": ord.id]],
        ]
    }
}

/// The bytes of a top-level member's value in a JSON object, exactly as they stand.
enum RawJSON {
    static func member(_ b: [UInt8], _ name: String) -> [UInt8]? {
        var i = 0
        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }
        func spaces() { while i < b.count, isSpace(b[i]) { i += 1 } }
        func string() -> Bool {
            i += 1
            while i < b.count {
                if b[i] == UInt8(ascii: "\\") {
                    i += 2
                    continue
                }
                if b[i] == UInt8(ascii: "\"") {
                    i += 1
                    return true
                }
                i += 1
            }
            return false
        }
        func value() -> Bool {
            guard i < b.count else { return false }
            if b[i] == UInt8(ascii: "\"") { return string() }
            if b[i] == UInt8(ascii: "{") || b[i] == UInt8(ascii: "[") {
                var depth = 0
                while i < b.count {
                    let c = b[i]
                    if c == UInt8(ascii: "\"") {
                        guard string() else { return false }
                        continue
                    }
                    if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") { depth += 1 }
                    if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") {
                        depth -= 1
                        if depth == 0 {
                            i += 1
                            return true
                        }
                    }
                    i += 1
                }
                return false
            }
            while i < b.count, !isSpace(b[i]), b[i] != UInt8(ascii: ","), b[i] != UInt8(ascii: "}"), b[i] != UInt8(ascii: "]") { i += 1 }
            return true
        }
        spaces()
        guard i < b.count, b[i] == UInt8(ascii: "{") else { return nil }
        i += 1
        while true {
            spaces()
            guard i < b.count, b[i] == UInt8(ascii: "\"") else { return nil }
            let keyStart = i + 1
            guard string() else { return nil }
            let key = Array(b[keyStart..<(i - 1)])
            spaces()
            guard i < b.count, b[i] == UInt8(ascii: ":") else { return nil }
            i += 1
            spaces()
            let start = i
            guard value() else { return nil }
            if key == Array(name.utf8) { return Array(b[start..<i]) }
            spaces()
            guard i < b.count, b[i] == UInt8(ascii: ",") else { return nil }
            i += 1
        }
    }
}

let options = Options.parse(CommandLine.arguments)
let sim = try Sim(options)
let router = Router()

router.post("/v1/oauth2/token") { req, _ -> Response in
    let expected = "Basic " + Data((options.clientID + ":" + options.secret).utf8).base64EncodedString()
    guard req.headers[.authorization] == expected else {
        return Sim.json(401, ["error": "invalid_client", "error_description": "Client Authentication failed"])
    }
    let body = String(buffer: try await req.body.collect(upTo: 4096))
    guard body.contains("grant_type=client_credentials") else {
        return Sim.json(400, ["error": "unsupported_grant_type", "error_description": "grant_type is required"])
    }
    let token = "SIMTOKEN-" + UUID().uuidString
    sim.state.withLock { $0.tokens[token] = Date().timeIntervalSince1970 + Double(options.tokenLifetime) }
    return Sim.json(200, ["access_token": token, "token_type": "Bearer", "expires_in": options.tokenLifetime, "app_id": "APP-SIM"])
}

router.post("/v2/checkout/orders") { req, _ -> Response in
    guard sim.authorized(req) else { return Sim.error(401, "AUTHENTICATION_FAILURE", nil, "Authentication failed") }
    if let f = await sim.faultBefore() { return f }
    let requestID = req.headers[HTTPField.Name("PayPal-Request-Id")!]
    if let r = requestID, let replay = sim.state.withLock({ $0.replies["create:" + r] }) {
        return Sim.json(200, replay.1)
    }
    let data = try await req.body.collect(upTo: 64 * 1024)
    guard let obj = try? JSONSerialization.jsonObject(with: Data(buffer: data)) as? [String: Any],
        obj["intent"] as? String == "CAPTURE",
        let pu = (obj["purchase_units"] as? [[String: Any]])?.first,
        let amount = pu["amount"] as? [String: Any], amount["currency_code"] as? String == "EUR",
        let value = amount["value"] as? String,
        let ctx = ((obj["payment_source"] as? [String: Any])?["paypal"] as? [String: Any])?["experience_context"] as? [String: Any],
        let ret = ctx["return_url"] as? String, let cancel = ctx["cancel_url"] as? String
    else { return Sim.error(400, "INVALID_REQUEST", "MISSING_REQUIRED_PARAMETER", "Request is not well-formed") }
    let ord = SimOrder(
        id: sim.newID("SIMO"),
        status: "PAYER_ACTION_REQUIRED",
        value: value,
        invoiceID: (pu["invoice_id"] as? String) ?? "",
        returnURL: ret,
        cancelURL: cancel
    )
    let (replayed, reply) = sim.state.withLock { s -> (Bool, [String: Any]) in
        // a request with the same id that arrived at the same time and was answered first: its order (PayPal's
        // idempotency holds for concurrent requests too)
        if let r = requestID, let replay = s.replies["create:" + r] { return (true, replay.1) }
        var reply = sim.orderJSON(ord, base: sim.base)
        if options.repeatOrderIDs, let first = s.firstOrderID, let old = s.orders[first] {
            reply = sim.orderJSON(old, base: sim.base)  // the first order's id (and state) again
        } else {
            s.orders[ord.id] = ord
            if s.firstOrderID == nil { s.firstOrderID = ord.id }
        }
        if let r = requestID { s.replies["create:" + r] = (201, reply) }
        return (false, reply)
    }
    if replayed { return Sim.json(200, reply) }
    if sim.roll(options.lostResponse) { return Sim.error(500, "INTERNAL_SERVER_ERROR", nil, "injected lost response") }
    return Sim.json(201, reply)
}

router.get("/v2/checkout/orders/:id") { req, ctx -> Response in
    guard sim.authorized(req) else { return Sim.error(401, "AUTHENTICATION_FAILURE", nil, "Authentication failed") }
    if let f = await sim.faultBefore() { return f }
    guard let id = ctx.parameters.get("id"), let ord = sim.state.withLock({ $0.orders[id] }) else {
        return Sim.error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", "Specified resource ID does not exist.")
    }
    return Sim.json(200, sim.orderJSON(ord, base: sim.base))
}

router.post("/v2/checkout/orders/:id/capture") { req, ctx -> Response in
    guard sim.authorized(req) else { return Sim.error(401, "AUTHENTICATION_FAILURE", nil, "Authentication failed") }
    if let f = await sim.faultBefore() { return f }
    guard let id = ctx.parameters.get("id") else { return Sim.error(404, "RESOURCE_NOT_FOUND", nil, "no order") }
    let requestID = req.headers[HTTPField.Name("PayPal-Request-Id")!] ?? UUID().uuidString
    enum Outcome {
        case reply(Int, [String: Any])
        case error(Response)
    }
    var webhook: (String, [String: Any])?
    let outcome: Outcome = sim.state.withLock { s in
        if let replay = s.replies["capture:" + requestID] { return .reply(200, replay.1) }
        guard var ord = s.orders[id] else {
            return .error(Sim.error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", "Specified resource ID does not exist."))
        }
        switch ord.status {
        case "PAYER_ACTION_REQUIRED":
            return .error(Sim.error(422, "UNPROCESSABLE_ENTITY", "ORDER_NOT_APPROVED", "Payer has not yet approved the Order for payment."))
        case "COMPLETED":
            // A capture with a new request id: PayPal refuses; the simulated bug captures again.
            if !(options.doubleCapture > 0 && s.rng.chance(options.doubleCapture)) {
                return .error(Sim.error(422, "UNPROCESSABLE_ENTITY", "ORDER_ALREADY_CAPTURED", "Order already captured."))
            }
        case "VOIDED":
            return .error(Sim.error(422, "UNPROCESSABLE_ENTITY", "ORDER_NOT_APPROVED", "Order was voided."))
        default: break
        }
        s.counter += 1
        let pending = options.pendingCaptures > 0 && s.rng.chance(options.pendingCaptures)
        let c = SimCapture(id: "SIMC" + sim.instance + String(format: "%08X", s.counter), status: pending ? "PENDING" : "COMPLETED", value: ord.value)
        ord.captures.append(c)
        ord.status = "COMPLETED"
        ord.captureRequestIDs.insert(requestID)
        s.orders[id] = ord
        var reply = sim.orderJSON(ord, base: sim.base)
        // the reply carries only this capture
        if var pu = (reply["purchase_units"] as? [[String: Any]])?.first {
            pu["payments"] = ["captures": [sim.captureResource(ord, c)]]
            reply["purchase_units"] = [pu]
        }
        s.replies["capture:" + requestID] = (201, reply)
        webhook = ("PAYMENT.CAPTURE.COMPLETED", sim.captureResource(ord, SimCapture(id: c.id, status: "COMPLETED", value: c.value)))
        if pending {
            // PayPal's review ends later; then the capture is COMPLETED and the webhook says so.
            let orderID = id
            let captureID = c.id
            Task.detached {
                try? await Task.sleep(nanoseconds: 500_000_000)
                let done: SimOrder? = sim.state.withLock { s in
                    guard var o = s.orders[orderID], let i = o.captures.firstIndex(where: { $0.id == captureID }) else { return nil }
                    o.captures[i].status = "COMPLETED"
                    s.orders[orderID] = o
                    return o
                }
                if let o = done, let cap = o.captures.first(where: { $0.id == captureID }) {
                    sim.sendWebhook("PAYMENT.CAPTURE.COMPLETED", resource: sim.captureResource(o, cap))
                }
            }
            webhook = nil
        }
        return .reply(201, reply)
    }
    if let (type, resource) = webhook { sim.sendWebhook(type, resource: resource) }
    switch outcome {
    case .error(let r): return r
    case .reply(let status, let obj):
        if sim.roll(options.lostResponse) { return Sim.error(500, "INTERNAL_SERVER_ERROR", nil, "injected lost response") }
        return Sim.json(status, obj)
    }
}

router.post("/v1/notifications/verify-webhook-signature") { req, _ -> Response in
    guard sim.authorized(req) else { return Sim.error(401, "AUTHENTICATION_FAILURE", nil, "Authentication failed") }
    let data = try await req.body.collect(upTo: 1 << 20)
    guard let obj = try? JSONSerialization.jsonObject(with: Data(buffer: data)) as? [String: Any] else {
        return Sim.error(400, "INVALID_REQUEST", nil, "Request is not well-formed")
    }
    _ = obj
    return Sim.json(200, ["verification_status": sim.verify(Array(buffer: data)) ? "SUCCESS" : "FAILURE"])
}

/// The certificate webhooks are signed with (named in `PAYPAL-CERT-URL`).
router.get("/v1/notifications/certs/sim") { _, _ -> Response in
    Response(
        status: .ok,
        headers: [.contentType: "application/x-pem-file"],
        body: .init(byteBuffer: ByteBuffer(string: sim.certificatePEM + "\n"))
    )
}

/// `POST /v2/payments/captures/{id}/refund`: the whole capture goes back (idempotent by `PayPal-Request-Id`).
router.post("/v2/payments/captures/:id/refund") { req, ctx -> Response in
    guard sim.authorized(req) else { return Sim.error(401, "AUTHENTICATION_FAILURE", nil, "Authentication failed") }
    if let f = await sim.faultBefore() { return f }
    guard let id = ctx.parameters.get("id") else { return Sim.error(404, "RESOURCE_NOT_FOUND", nil, "no capture") }
    let requestID = req.headers[HTTPField.Name("PayPal-Request-Id")!] ?? UUID().uuidString
    // an amount refunds part of the capture (a surplus); without one, all of it
    let body = try await req.body.collect(upTo: 16 * 1024)
    let asked = ((try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any])?["amount"] as? [String: Any]
    let part = (asked?["value"] as? String).flatMap(Money.parseCents)
    enum Outcome {
        case reply([String: Any], webhook: [String: Any]?)
        case error(Response)
    }
    let outcome: Outcome = sim.state.withLock { s in
        if let replay = s.replies["refund:" + requestID] { return .reply(replay.1, webhook: nil) }
        guard let (orderID, index) = s.orders.lazy.compactMap({ (k, o) in o.captures.firstIndex { $0.id == id }.map { (k, $0) } }).first,
            var ord = s.orders[orderID]
        else { return .error(Sim.error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", "Specified resource ID does not exist.")) }
        guard ord.captures[index].status == "COMPLETED" else {
            return .error(Sim.error(422, "UNPROCESSABLE_ENTITY", "CAPTURE_FULLY_REFUNDED", "The capture has already been fully refunded."))
        }
        let whole = Money.parseCents(ord.captures[index].value) ?? 0
        if let part, part <= 0 || part > whole {
            return .error(
                Sim.error(422, "UNPROCESSABLE_ENTITY", "REFUND_AMOUNT_EXCEEDED", "The refund amount must be positive and at most the capture.")
            )
        }
        s.counter += 1
        let refundID = "SIMR" + String(format: "%08X", s.counter)
        ord.captures[index].status = part == nil || part == whole ? "REFUNDED" : "PARTIALLY_REFUNDED"
        ord.captures[index].refundID = refundID
        s.orders[orderID] = ord
        let reply: [String: Any] = [
            "id": refundID, "status": "COMPLETED",
            "amount": ["currency_code": "EUR", "value": part.map(Money.plain) ?? ord.captures[index].value],
        ]
        s.replies["refund:" + requestID] = (201, reply)
        return .reply(reply, webhook: sim.captureResource(ord, ord.captures[index]))
    }
    switch outcome {
    case .error(let r): return r
    case .reply(let obj, let webhook):
        if let webhook { sim.sendWebhook("PAYMENT.CAPTURE.REFUNDED", resource: webhook) }
        if sim.roll(options.lostResponse) { return Sim.error(500, "INTERNAL_SERVER_ERROR", nil, "injected lost response") }
        return Sim.json(201, obj)
    }
}

/// The payer-action page: approve or cancel. `?sim_action=approve|cancel` does it at once (tests, scripted demo).
func decide(_ id: String, approve: Bool) -> Response {
    guard
        let ord = sim.state.withLock({ s -> SimOrder? in
            guard var o = s.orders[id] else { return nil }
            if approve && o.status == "PAYER_ACTION_REQUIRED" { o.status = "APPROVED" }
            if !approve && o.status == "PAYER_ACTION_REQUIRED" { o.status = "VOIDED" }
            s.orders[id] = o
            return o
        })
    else { return Response(status: .notFound) }
    if approve { sim.sendWebhook("CHECKOUT.ORDER.APPROVED", resource: sim.orderJSON(ord, base: sim.base)) }
    let target = (approve ? ord.returnURL : ord.cancelURL) + "?token=" + ord.id + (approve ? "&PayerID=SIMPAYER1" : "")
    return Response(status: .seeOther, headers: [.location: target])
}

router.get("/checkoutnow") { req, _ -> Response in
    guard let id = req.uri.queryParameters.get("token") else { return Response(status: .notFound) }
    if let action = req.uri.queryParameters.get("sim_action") { return decide(id, approve: action == "approve") }
    guard let ord = sim.state.withLock({ $0.orders[id] }) else { return Response(status: .notFound) }
    let html = """
        <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>PayPal (simulator)</title></head><body style="font-family:sans-serif;max-width:30em;margin:2em auto">
        <h1>PayPal <small>(simulator)</small></h1><p>Pay <strong>\(ord.value) EUR</strong> for \(ord.invoiceID.filter { $0.isLetter || $0.isNumber || $0 == "-" }).</p>
        <form method="post" action="/checkoutnow/approve?token=\(id)"><button style="font-size:1.3em;padding:.5em 2em">Pay now</button></form>
        <form method="post" action="/checkoutnow/cancel?token=\(id)"><button>Cancel and return</button></form></body></html>
        """
    return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
}
router.post("/checkoutnow/approve") { req, _ in decide(req.uri.queryParameters.get("token") ?? "", approve: true) }
router.post("/checkoutnow/cancel") { req, _ in decide(req.uri.queryParameters.get("token") ?? "", approve: false) }

/// For tests: every order with its captures.
router.get("/sim/orders") { _, _ -> Response in
    let orders = sim.state.withLock {
        $0.orders.values.map { o -> [String: Any] in
            [
                "id": o.id, "status": o.status, "invoice_id": o.invoiceID, "value": o.value,
                "captures": o.captures.map { ["id": $0.id, "status": $0.status, "refund_id": $0.refundID ?? ""] },
            ]
        }
    }
    return Sim.json(200, orders)
}

/// For tests: every webhook signed so far (sent or dropped), with its headers and its body as text.
router.get("/sim/webhooks") { _, _ -> Response in
    let all = sim.state.withLock {
        $0.signed.map { w -> [String: Any] in
            ["headers": Dictionary(w.headers, uniquingKeysWith: { a, _ in a }), "body": String(decoding: w.body, as: UTF8.self)]
        }
    }
    return Sim.json(200, all)
}

/// For tests: signs and sends an event with the given type and resource, whatever the orders are (a genuine
/// signature on contents the API does not confirm).
router.post("/sim/send-webhook") { req, _ -> Response in
    let data = try await req.body.collect(upTo: 64 * 1024)
    guard let obj = try? JSONSerialization.jsonObject(with: Data(buffer: data)) as? [String: Any],
        let type = obj["event_type"] as? String, let resource = obj["resource"] as? [String: Any]
    else { return Sim.error(400, "INVALID_REQUEST", nil, "event_type and resource are required") }
    sim.sendWebhook(type, resource: resource, force: true)
    return Sim.json(200, [:] as [String: Any])
}

let app = Application(router: router, configuration: .init(address: .hostname(options.host, port: options.port), serverName: nil))
try await app.runService()
