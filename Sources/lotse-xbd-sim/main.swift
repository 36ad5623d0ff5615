// lotse-xbd-sim: an e-payment platform speaking XBezahldienste 1.0.0 (formats §6) on loopback, for tests and the demo.
// Payment transactions (create, status read), the platform status, a pay page (pay, cancel, fail) that sends the payer
// back and calls the notification URL, the three ways platforms authenticate (HTTP Basic as ePay21, OAuth2 client
// credentials as pmPayment, mutual TLS as ePayBL), the functional error codes, and fault injection.
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import LotseCore
import LotseHTTP
import NIOCore
import NIOSSL
import Synchronization

struct Options {
    var host = "127.0.0.1"
    var port = 8091
    var auth = "basic"  // basic, oauth2, mtls
    var clientID = "sim-client"
    var secret = "sim-secret"
    var originator = "lotse"
    var endpoint = "07312000"
    /// Server certificate and key (PEM) for https; with `clientCA`, a client certificate signed by it is required.
    var tlsCert: String?
    var tlsKey: String?
    var clientCA: String?
    /// With TLS: the pay page on its own plain-http port (the payer's browser has no client certificate).
    var payPort: Int?
    var seed: UInt64 = 1
    /// Fault rates, 0…1.
    var fail = 0.0  // 500 before doing anything
    var lostResponse = 0.0  // do the work, then answer 500
    var slow = 0.0  // answer after `delay` seconds
    var delay = 3.0
    var stuck = 0.0  // the pay page sends the payer back without a payment: the status stays INITIAL
    var latePayed = 0.0  // paid, but status reads say INITIAL for `lateSeconds` more
    var lateSeconds = 1.5
    var dropNotifications = 0.0
    var misreport = 0.0  // a paid transaction's status read reports 1.00 EUR more than was asked (a platform fault)
    /// Every create is refused with this functional code (e.g. FORBIDDEN, VALIDATION_ERROR).
    var refuse: String?
    var tokenLifetime = 300

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
            case "--port": o.port = Int(next()) ?? 8091
            case "--auth": o.auth = next()
            case "--client-id": o.clientID = next()
            case "--client-secret": o.secret = next()
            case "--originator": o.originator = next()
            case "--endpoint": o.endpoint = next()
            case "--tls-cert": o.tlsCert = next()
            case "--tls-key": o.tlsKey = next()
            case "--client-ca": o.clientCA = next()
            case "--pay-port": o.payPort = Int(next())
            case "--seed": o.seed = UInt64(next()) ?? 1
            case "--fail": o.fail = Double(next()) ?? 0
            case "--lost-response": o.lostResponse = Double(next()) ?? 0
            case "--slow": o.slow = Double(next()) ?? 0
            case "--delay": o.delay = Double(next()) ?? 3
            case "--stuck": o.stuck = Double(next()) ?? 0
            case "--late-payed": o.latePayed = Double(next()) ?? 0
            case "--late-seconds": o.lateSeconds = Double(next()) ?? 1.5
            case "--drop-notifications": o.dropNotifications = Double(next()) ?? 0
            case "--misreport": o.misreport = Double(next()) ?? 0
            case "--refuse": o.refuse = next()
            case "--token-lifetime": o.tokenLifetime = Int(next()) ?? 300
            case "-h", "--help":
                print(
                    "usage: lotse-xbd-sim [--port P] [--auth basic|oauth2|mtls] [--client-id ID --client-secret S]\n"
                        + "  [--originator ID --endpoint ID] [--tls-cert PEM --tls-key PEM [--client-ca PEM] --pay-port P] [--seed N]\n"
                        + "  faults (rates 0..1): --fail --lost-response --slow [--delay S] --stuck --late-payed [--late-seconds S]\n"
                        + "  --drop-notifications; --refuse FUNCTIONAL_CODE"
                )
                exit(0)
            default:
                FileHandle.standardError.write(Data("lotse-xbd-sim: unknown option \(args[i])\n".utf8))
                exit(2)
            }
            i += 1
        }
        if o.auth == "mtls" && (o.tlsCert == nil || o.tlsKey == nil || o.clientCA == nil || o.payPort == nil) {
            FileHandle.standardError.write(Data("lotse-xbd-sim: --auth mtls needs --tls-cert, --tls-key, --client-ca and --pay-port\n".utf8))
            exit(2)
        }
        return o
    }
}

/// `@unchecked Sendable`: `request` is the parsed JSON it was made from, never changed after.
struct SimTransaction: @unchecked Sendable {
    var id: String
    var requestID: String
    var status: String  // INITIAL, PAYED, FAILED, CANCELED
    var request: [String: Any]
    var cents: Int
    var redirectURL: String
    var notifyURL: String?
    var reference: String?
    var timestamp: String
    /// A payment the status reads report only from this time on (fault `--late-payed`).
    var visibleAt: Double = 0
    /// Its status reads report another amount (fault `--misreport`).
    var misreported = false
    var reads = 0
}

/// `@unchecked Sendable`: its mutable state is `state`, a lock-protected box (holding JSON as `[String: Any]`).
final class Sim: @unchecked Sendable {
    let o: Options
    struct State {
        var rng: SeededRandom
        var tokens: [String: Double] = [:]
        var transactions: [String: SimTransaction] = [:]
        var byRequest: [String: String] = [:]
        var counter = 0
        var notifications = 0
    }
    let state: Mutex<State>
    let http = CurlClient(connectTimeout: 2, timeout: 5)
    let instance = String(format: "%08X%05X", UInt32(truncatingIfNeeded: Int(Date().timeIntervalSince1970)), UInt32(getpid()) & 0xFFFFF)

    init(_ o: Options) {
        self.o = o
        state = Mutex(State(rng: SeededRandom(seed: o.seed)))
    }

    var base: String { (o.tlsCert != nil ? "https" : "http") + "://\(o.host):\(o.port)" }
    /// Where the payer's browser goes.
    var payBase: String { o.payPort.map { "http://\(o.host):\($0)" } ?? base }

    func roll(_ p: Double) -> Bool {
        guard p > 0 else { return false }
        return state.withLock { $0.rng.chance(p) }
    }

    func newID(_ prefix: String) -> String {
        state.withLock { s in
            s.counter += 1
            return prefix + instance + String(format: "%06X", s.counter)
        }
    }

    static func json(_ status: Int, _ obj: Any, type: String = "application/json") -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: .init(code: status), headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// `application/problem+json` with the standard's functional code.
    static func problem(_ status: Int, _ code: String, _ detail: String) -> Response {
        json(
            status,
            [
                "type": "https://xbezahldienste.de/problem/" + code.lowercased(), "status": status,
                "title": code.replacingOccurrences(of: "_", with: " "),
                "detail": detail, "functionalCode": code,
            ] as [String: Any],
            type: "application/problem+json"
        )
    }

    /// The credentials of the configured mode (the client certificate was checked in the TLS handshake).
    func authenticated(_ req: Request) -> Response? {
        switch o.auth {
        case "mtls": return nil
        case "oauth2":
            guard let h = req.headers[.authorization], h.hasPrefix("Bearer ") else { return Self.problem(401, "FORBIDDEN", "bearer token required") }
            let valid = state.withLock { ($0.tokens[String(h.dropFirst(7))] ?? 0) > Date().timeIntervalSince1970 }
            return valid ? nil : Self.problem(401, "FORBIDDEN", "the token is not valid")
        default:
            guard let h = req.headers[.authorization], h.hasPrefix("Basic "),
                let decoded = Data(base64Encoded: String(h.dropFirst(6))).map({ String(decoding: $0, as: UTF8.self) })
            else { return Self.problem(401, "FORBIDDEN", "HTTP Basic authentication required") }
            return decoded == o.clientID + ":" + o.secret ? nil : Self.problem(403, "FORBIDDEN", "wrong user or password")
        }
    }

    func faultBefore() async -> Response? {
        if roll(o.fail) { return Self.problem(500, "UNSPECIFIED", "injected failure") }
        if roll(o.slow) { try? await Task.sleep(nanoseconds: UInt64(o.delay * 1e9)) }
        return nil
    }

    func known(_ originator: String?, _ endpoint: String?) -> Bool {
        originator == o.originator && endpoint == o.endpoint
    }

    func transactionJSON(_ t: SimTransaction, now: Double) -> [String: Any] {
        let shown = t.status == "PAYED" && now < t.visibleAt ? "INITIAL" : t.status
        var info: [String: Any] = [
            "transactionId": t.id, "transactionUrl": base + "/paymenttransaction/\(o.originator)/\(o.endpoint)/" + t.id,
            "transactionTimestamp": t.timestamp, "status": shown,
        ]
        if shown == "INITIAL" { info["transactionRedirectUrl"] = payBase + "/pay/" + t.id }
        if shown == "PAYED" {
            info["paymentMethod"] = "PAYPAL"
            info["transactionReference"] = t.reference ?? ""
        }
        if shown == "FAILED" { info["statusDetail"] = "declined by the payment service" }
        var request = t.request
        if t.misreported && shown == "PAYED" { request["grosAmount"] = Double(t.cents + 100) / 100 }
        return ["paymentRequest": request, "paymentInformation": info]
    }

    /// The payer's decision on the pay page: pay, cancel or fail. Then the notification URL is called.
    func decide(_ id: String, _ action: String) -> SimTransaction? {
        let stuck = action == "pay" && roll(o.stuck)
        let late = action == "pay" && roll(o.latePayed)
        let t: SimTransaction? = state.withLock { s in
            guard var t = s.transactions[id] else { return nil }
            if t.status == "INITIAL" && !stuck {
                switch action {
                case "pay":
                    t.status = "PAYED"
                    s.counter += 1
                    t.reference = "KZ" + instance + String(format: "%06d", s.counter)
                    if late { t.visibleAt = Date().timeIntervalSince1970 + o.lateSeconds }
                    if s.rng.chance(o.misreport) { t.misreported = true }
                case "cancel": t.status = "CANCELED"
                default: t.status = "FAILED"
                }
                s.transactions[id] = t
            }
            return t
        }
        if let t, !stuck, let url = t.notifyURL, !roll(o.dropNotifications) {
            let http = self.http
            let wait = max(0.05, t.visibleAt - Date().timeIntervalSince1970 + 0.1)
            Task.detached {
                try? await Task.sleep(nanoseconds: UInt64(wait * 1e9))
                for attempt in 0..<4 {
                    if let r = try? await http.send(OutboundRequest(method: "POST", url: url, body: [])), r.status / 100 == 2 || r.status == 404 {
                        break
                    }
                    try? await Task.sleep(nanoseconds: UInt64(0.2 * pow(2, Double(attempt)) * 1e9))
                }
            }
            state.withLock { $0.notifications += 1 }
        }
        return t
    }
}

/// Whole cents of a JSON number in euros, if it is one.
func cents(_ v: Any?) -> Int? {
    let d: Double
    switch v {
    case let i as Int: d = Double(i)
    case let x as Double: d = x
    case let n as NSNumber: d = n.doubleValue
    default: return nil
    }
    let c = (d * 100).rounded()
    return abs(d * 100 - c) < 0.0001 ? Int(c) : nil
}

func identifier(_ s: String?, max: Int) -> Bool {
    guard let s, !s.isEmpty, s.utf8.count <= max else { return false }
    return s.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "-" || $0 == "_" }
}

/// The standard's checks of a PaymentRequest: nil when it is valid, else the problem to answer.
func validate(_ r: [String: Any]) -> Response? {
    guard identifier(r["requestId"] as? String, max: 36) else { return Sim.problem(400, "VALIDATION_ERROR", "requestId") }
    guard r["currency"] as? String == "EUR" else { return Sim.problem(400, "VALIDATION_ERROR", "currency") }
    guard let purpose = r["purpose"] as? String, !purpose.isEmpty, purpose.count <= 27,
        purpose.unicodeScalars.allSatisfy({ ($0.isASCII && $0.properties.isAlphabetic) || ("0"..."9").contains($0) || $0 == " " || $0 == "-" })
    else { return Sim.problem(400, "VALIDATION_ERROR", "purpose") }
    guard (r["description"] as? String)?.count ?? 0 <= 250 else { return Sim.problem(400, "VALIDATION_ERROR", "description") }
    guard let redirect = r["redirectUrl"] as? String, !redirect.isEmpty, redirect.count <= 2082 else {
        return Sim.problem(400, "VALIDATION_ERROR", "redirectUrl")
    }
    guard r["requestor"] == nil else { return Sim.problem(400, "VALIDATION_ERROR", "Lotse sends no requestor") }
    guard let stamp = r["requestTimestamp"] as? String,
        stamp.range(of: #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"#, options: .regularExpression) != nil
    else { return Sim.problem(400, "VALIDATION_ERROR", "requestTimestamp (ISO 8601 UTC with milliseconds)") }
    guard let items = r["items"] as? [[String: Any]], (1...99).contains(items.count) else { return Sim.problem(400, "VALIDATION_ERROR", "items") }
    var sum = 0
    for item in items {
        guard let booking = item["bookingData"] as? [String: Any], !booking.isEmpty else {
            return Sim.problem(400, "BOOKING_DATA_MISSING", "bookingData")
        }
        guard booking.values.allSatisfy({ $0 is String }) else { return Sim.problem(400, "VALIDATION_ERROR", "bookingData is a map of strings") }
        for field in ["id", "reference", "description"] where (item[field] as? String)?.isEmpty ?? true {
            return Sim.problem(400, "VALIDATION_ERROR", "item \(field)")
        }
        guard let quantity = item["quantity"] as? Int, quantity >= 1, item["taxRate"] != nil, cents(item["taxRate"]) != nil,
            let singleNet = cents(item["singleNetAmount"]), let singleTax = cents(item["singleTaxAmount"]),
            let net = cents(item["totalNetAmount"]), let tax = cents(item["totalTaxAmount"])
        else { return Sim.problem(400, "VALIDATION_ERROR", "item amounts, tax rate and quantity") }
        guard net == singleNet * quantity, tax == singleTax * quantity else {
            return Sim.problem(400, "CALCULATION_ERROR", "item totals are not quantity times the single amounts")
        }
        sum += net + tax
    }
    guard let gros = cents(r["grosAmount"]), gros > 0 else { return Sim.problem(400, "VALIDATION_ERROR", "grosAmount") }
    guard gros == sum else { return Sim.problem(400, "CALCULATION_ERROR", "grosAmount \(gros) is not the sum of the items \(sum)") }
    return nil
}

let options = Options.parse(CommandLine.arguments)
let sim = Sim(options)
let router = Router()

router.get("/status/:originator/:endpoint") { req, ctx -> Response in
    if let refused = sim.authenticated(req) { return refused }
    guard sim.known(ctx.parameters.get("originator"), ctx.parameters.get("endpoint")) else {
        return Sim.problem(403, "NO_VALID_ORIGINATOR_OR_ENDPOINT", "unknown originator or endpoint")
    }
    return Sim.json(200, ["status": "OK"])
}

/// OAuth2 client credentials (pmPayment): the form carries client id and secret.
router.post("/oauth/token") { req, _ -> Response in
    let body = try await req.body.collect(upTo: 16 * 1024)
    let form = FormDecoding.decode(String(buffer: body))
    guard form["grant_type"] == "client_credentials", form["client_id"] == options.clientID, form["client_secret"] == options.secret else {
        return Sim.json(401, ["error": "invalid_client"])
    }
    let token = sim.newID("AT") + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    sim.state.withLock { $0.tokens[token] = Date().timeIntervalSince1970 + Double(options.tokenLifetime) }
    return Sim.json(200, ["access_token": token, "token_type": "Bearer", "expires_in": options.tokenLifetime])
}

router.post("/paymenttransaction/:originator/:endpoint") { req, ctx -> Response in
    if let refused = sim.authenticated(req) { return refused }
    if let f = await sim.faultBefore() { return f }
    guard sim.known(ctx.parameters.get("originator"), ctx.parameters.get("endpoint")) else {
        return Sim.problem(403, "NO_VALID_ORIGINATOR_OR_ENDPOINT", "unknown originator or endpoint")
    }
    if let code = options.refuse { return Sim.problem(code == "FORBIDDEN" ? 403 : 400, code, "refused as configured") }
    let body = try await req.body.collect(upTo: 256 * 1024)
    guard let r = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any] else {
        return Sim.problem(400, "VALIDATION_ERROR", "not a PaymentRequest")
    }
    if let problem = validate(r) { return problem }
    let requestID = r["requestId"] as! String
    let items = r["items"] as! [[String: Any]]
    let notify = (items.first?["bookingData"] as? [String: Any])?["notifyUrl"] as? String
    let id = sim.newID("T")
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    let made: SimTransaction? = sim.state.withLock { s in
        guard s.byRequest[requestID] == nil else { return nil }
        let t = SimTransaction(
            id: id,
            requestID: requestID,
            status: "INITIAL",
            request: r,
            cents: cents(r["grosAmount"]) ?? 0,
            redirectURL: r["redirectUrl"] as! String,
            notifyURL: notify,
            timestamp: formatter.string(from: Date())
        )
        s.transactions[id] = t
        s.byRequest[requestID] = id
        return t
    }
    guard let t = made else { return Sim.problem(409, "PAYMENT_EXISTS", "requestId \(requestID) was used before") }
    if sim.roll(options.lostResponse) { return Sim.problem(500, "UNSPECIFIED", "injected lost response") }
    return Sim.json(200, sim.transactionJSON(t, now: Date().timeIntervalSince1970))
}

router.get("/paymenttransaction/:originator/:endpoint/:id") { req, ctx -> Response in
    if let refused = sim.authenticated(req) { return refused }
    if let f = await sim.faultBefore() { return f }
    guard sim.known(ctx.parameters.get("originator"), ctx.parameters.get("endpoint")) else {
        return Sim.problem(403, "NO_VALID_ORIGINATOR_OR_ENDPOINT", "unknown originator or endpoint")
    }
    let id = ctx.parameters.get("id") ?? ""
    guard
        let t = sim.state.withLock({ s -> SimTransaction? in
            s.transactions[id]?.reads += 1
            return s.transactions[id]
        })
    else { return Sim.problem(404, "UNSPECIFIED", "no such transaction") }
    if sim.roll(options.lostResponse) { return Sim.problem(500, "UNSPECIFIED", "injected lost response") }
    return Sim.json(200, sim.transactionJSON(t, now: Date().timeIntervalSince1970))
}

/// The pay page. `?sim_action=pay|cancel|fail` decides at once (tests, the scripted demo).
func addPayPages(to router: Router<BasicRequestContext>) {
    router.get("/pay/:id") { req, ctx -> Response in
        let id = ctx.parameters.get("id") ?? ""
        if let action = req.uri.queryParameters.get("sim_action") {
            guard let t = sim.decide(id, action) else { return Response(status: .notFound) }
            return Response(status: .seeOther, headers: [.location: t.redirectURL])
        }
        guard let t = sim.state.withLock({ $0.transactions[id] }) else { return Response(status: .notFound) }
        let amount = String(t.cents / 100) + "," + String(format: "%02d", t.cents % 100)
        let purpose = ((t.request["purpose"] as? String) ?? "").filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == " " }
        let html = """
            <!DOCTYPE html><html lang="de"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>E-Payment (Simulator)</title></head><body style="font-family:sans-serif;max-width:30em;margin:2em auto">
            <h1>E-Payment <small>(Simulator)</small></h1><p>\(amount) EUR für \(purpose)</p>
            <form method="post" action="/pay/\(id)/pay"><button style="font-size:1.3em;padding:.5em 2em">Bezahlen</button></form>
            <form method="post" action="/pay/\(id)/cancel"><button>Abbrechen</button></form>
            <form method="post" action="/pay/\(id)/fail"><button>Zahlung scheitert</button></form></body></html>
            """
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }
    for action in ["pay", "cancel", "fail"] {
        router.post("/pay/:id/\(action)") { _, ctx -> Response in
            guard let t = sim.decide(ctx.parameters.get("id") ?? "", action) else { return Response(status: .notFound) }
            return Response(status: .seeOther, headers: [.location: t.redirectURL])
        }
    }
}

/// For tests: every transaction.
router.get("/sim/transactions") { _, _ -> Response in
    let all = sim.state.withLock {
        $0.transactions.values.map { t -> [String: Any] in
            ["id": t.id, "requestId": t.requestID, "status": t.status, "cents": t.cents, "reads": t.reads]
        }
    }
    return Sim.json(200, all)
}

let address = BindAddress.hostname(options.host, port: options.port)
let payRouter = Router()
addPayPages(to: options.payPort == nil ? router : payRouter)
if let certPath = options.tlsCert, let keyPath = options.tlsKey {
    var tls = TLSConfiguration.makeServerConfiguration(
        certificateChain: try NIOSSLCertificate.fromPEMFile(certPath).map { .certificate($0) },
        privateKey: .privateKey(try NIOSSLPrivateKey(file: keyPath, format: .pem))
    )
    if let ca = options.clientCA {
        // ePayBL's way: no credentials in the request; the client's certificate, signed by the CA the platform trusts
        tls.trustRoots = .file(ca)
        tls.certificateVerification = .noHostnameVerification
    }
    let app = Application(router: router, server: try .tls(.http1(), tlsConfiguration: tls), configuration: .init(address: address, serverName: nil))
    let pages = options.payPort.map {
        Application(router: payRouter, configuration: .init(address: .hostname(options.host, port: $0), serverName: nil))
    }
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.runService() }
        if let pages { group.addTask { try await pages.runService() } }
        try await group.next()
    }
} else {
    let app = Application(router: router, configuration: .init(address: address, serverName: nil))
    try await app.runService()
}
