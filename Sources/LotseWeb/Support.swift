import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import LotseCore
import LotseStorage
import LotseTokens
import NIOCore
import Synchronization

/// Request context: the core storage plus the client's address (used only for rate limiting,
/// never stored or logged).
public struct LotseContext: RequestContext, RemoteAddressRequestContext, SessionRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// The console's session (hummingbird-auth's session middleware on the `/office` routes only).
    public let sessions = SessionContext<ConsoleSession>()
    /// The signed-in user of the console, set by `ConsoleAccess`.
    public var consoleUser: UserRecord?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    public var maxUploadSize: Int { 1 << 20 }
}

/// An HTML page response.
struct HTML: ResponseGenerator {
    var body: ByteBuffer
    var status: HTTPResponse.Status = .ok
    var headers: HTTPFields = [:]

    init(body: String, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) {
        self.init(buffer: ByteBuffer(string: body), status: status, headers: headers)
    }

    init(buffer: ByteBuffer, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) {
        self.body = buffer
        self.status = status
        self.headers = headers
    }

    /// The page's header fields and its content type.
    var responseHeaders: HTTPFields {
        var h = headers
        h[.contentType] = "text/html; charset=utf-8"
        return h
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let page = encoded(for: request)
        return Response(status: page.status, headers: page.responseHeaders, body: .init(byteBuffer: page.body))
    }
}

/// Security headers on every response (spec: strict CSP, nosniff, no referrer — the token is in
/// the URL —, no framing, HSTS when served over https).
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Built (and validated) once.
    let fields: [HTTPField]

    init(hsts: Bool, formTargets: String) {
        var f = [
            HTTPField(
                name: .contentSecurityPolicy,
                value: "default-src 'none'; style-src 'self'; img-src 'self'; "
                    + "form-action 'self' \(formTargets); frame-ancestors 'none'; base-uri 'none'"
            ),
            HTTPField(name: .xContentTypeOptions, value: "nosniff"),
            HTTPField(name: .referrerPolicyHeader, value: "no-referrer"),
            HTTPField(name: .xFrameOptionsHeader, value: "DENY"),
        ]
        if hsts { f.append(HTTPField(name: .strictTransportSecurity, value: "max-age=31536000")) }
        fields = f
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers.append(contentsOf: fields)
        return response
    }
}

extension HTTPField.Name {
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
    static let referrerPolicyHeader = Self("Referrer-Policy")!
    static let xFrameOptionsHeader = Self("X-Frame-Options")!
    static let strictTransportSecurity = Self("Strict-Transport-Security")!
}

/// A token bucket per client for the lookup form (guessing case numbers and plates is slow).
final class RateLimiter: Sendable {
    let capacity: Double
    let perSecond: Double
    private let state = Mutex([String: (tokens: Double, at: Double)]())

    init(capacity: Int, per interval: Double) {
        self.capacity = Double(capacity)
        self.perSecond = Double(capacity) / interval
    }

    func allow(_ key: String, now: Double = Date().timeIntervalSince1970) -> Bool {
        state.withLock { s in
            if s.count > 100_000 { s = s.filter { now - $0.value.at < 3600 } }
            var entry = s[key] ?? (capacity, now)
            entry.tokens = min(capacity, entry.tokens + (now - entry.at) * perSecond)
            entry.at = now
            guard entry.tokens >= 1 else {
                s[key] = entry
                return false
            }
            entry.tokens -= 1
            s[key] = entry
            return true
        }
    }
}

/// CSRF protection by double submit: a random value in a SameSite=Strict cookie and in the form.
enum CSRF {
    static let cookie = "lotse_csrf"

    static func token(_ request: Request) -> (value: String, isNew: Bool) {
        if let v = request.cookies[cookie]?.value, v.count == 32, v.allSatisfy({ $0.isHexDigit }) { return (v, false) }
        let words = random.next()
        let hex = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(32)
        for w in [words.0, words.1] {
            for shift in stride(from: 60, through: 0, by: -4) { out.append(hex[Int((w >> UInt64(shift)) & 15)]) }
        }
        return (String(decoding: out, as: UTF8.self), true)
    }

    static let random = RandomWords()

    static func verify(_ request: Request, formValue: String?) -> Bool {
        guard let c = request.cookies[cookie]?.value, let f = formValue, c.count == 32 else { return false }
        return ConstantTime.equal(c.utf8, f.utf8)
    }
}

/// The motorist's forms work without cookies (issue 16): a form carries a signed, time-limited value bound to where it
/// posts, `<expiry>.<HMAC-SHA256 of "ACTION|expiry", 16 bytes hex>`, which is enough against cross-site forms here (the
/// case's capability is its token in the URL, and no form of the motorist acts on an account). A visitor whose browser
/// keeps cookies keeps the double-submit cookie as before; either proves the form. The keys are derived from the case
/// tokens' key ring (HKDF): values are made with the key of the ring's current key when the server started and checked
/// against the keys of every key it had, so a form opened before a restart that followed a key rotation still posts.
/// (Servers of a city share the key ring; one restarted after a rotation signs with a key that one not yet restarted
/// does not know, so forms between them work again once both have restarted.)
struct FormTokens: Sendable {
    /// The HMAC states after the keys (derived once), the signing key last: copied per value, never re-keyed on the
    /// case page's path.
    let keyed: [KeyedHMAC]
    /// Seconds a form stays valid (a motorist reading the page slowly, on a bad connection).
    let lifetime: Int64

    init(secret: String, lifetime: Int64 = 4 * 3600) { self.init(secrets: [secret], lifetime: lifetime) }

    /// Values made with the last of `secrets` (base64) and checked against each of them.
    init(secrets: [String], lifetime: Int64 = 4 * 3600) {
        precondition(!secrets.isEmpty, "form tokens need a key")
        keyed = secrets.map { KeyedHMAC(HMAC(key: SymmetricKey(data: KeyRing.derivedKey(secret: $0, purpose: "lotse form tokens v1")))) }
        self.lifetime = lifetime
    }

    /// The value for a form that posts to `action` (a path; letter case does not matter, as in the case tokens).
    func make(action: String, now: Int64 = Int64(Date().timeIntervalSince1970)) -> String {
        let expiry = now + lifetime
        return String(expiry) + "." + mac(action, expiry, keyed.last!)
    }

    /// Whether `value` was made for `action` and has not expired.
    func verify(_ value: String?, action: String, now: Int64 = Int64(Date().timeIntervalSince1970)) -> Bool {
        guard let value, let dot = value.firstIndex(of: "."), let expiry = Int64(value[..<dot]) else { return false }
        guard expiry >= now, expiry <= now + lifetime else { return false }
        let given = value[value.index(after: dot)...].utf8
        return keyed.contains { ConstantTime.equal(mac(action, expiry, $0).utf8, given) }
    }

    static let hexDigits = Array("0123456789abcdef".utf8)

    /// 16 bytes of the HMAC, as hex (by table: `String(format:)` costs microseconds per byte on Linux).
    func mac(_ action: String, _ expiry: Int64, _ key: KeyedHMAC) -> String {
        var state = key.state
        state.update(data: Array((action.uppercased() + "|" + String(expiry)).utf8))
        let code = state.finalize()
        var hex = [UInt8]()
        hex.reserveCapacity(32)
        for byte in code.prefix(16) {
            hex.append(Self.hexDigits[Int(byte >> 4)])
            hex.append(Self.hexDigits[Int(byte & 15)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
}

/// An HMAC-SHA256 state after the key. `@unchecked Sendable`: it is only ever copied (a value type whose digest state
/// is copied on write) and the copy updated, never mutated in place, so threads share nothing mutable.
struct KeyedHMAC: @unchecked Sendable {
    let state: HMAC<SHA256>
    init(_ state: HMAC<SHA256>) { self.state = state }
}

/// Parses an `application/x-www-form-urlencoded` body (`LotseCore.FormDecoding`, which the fuzzer drives).
enum Form {
    static func decode(_ body: String) -> [String: String] { FormDecoding.decode(body) }
}

/// 128-bit random values from the kernel's CSPRNG, read 256 at a time from `/dev/urandom` (one read
/// instead of two `getrandom` calls per new visitor). Every value is handed out once.
final class RandomWords: Sendable {
    private let state = Mutex((words: [UInt64](), next: 0))
    private let urandom = Mutex<FileHandle?>(FileHandle(forReadingAtPath: "/dev/urandom"))

    func next() -> (UInt64, UInt64) {
        state.withLock { s in
            if s.next + 2 > s.words.count {
                s.words = fetch(512)
                s.next = 0
            }
            defer { s.next += 2 }
            return (s.words[s.next], s.words[s.next + 1])
        }
    }

    func fetch(_ count: Int) -> [UInt64] {
        if let data = urandom.withLock({ handle in handle.flatMap { try? $0.read(upToCount: count * 8) } }), data.count == count * 8 {
            return data.withUnsafeBytes { raw in (0..<count).map { raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self) } }
        }
        var g = SystemRandomNumberGenerator()
        return (0..<count).map { _ in g.next() }
    }
}
