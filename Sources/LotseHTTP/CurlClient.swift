import CCurl
import CCurlShim
import Foundation
import LotseCore

/// An outgoing HTTP request.
public struct OutboundRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]?

    public init(method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8]? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// A response: status, headers (names lower case), body.
public struct OutboundReply: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public var text: String { String(decoding: body, as: UTF8.self) }
    /// PayPal's correlation id, kept for the log.
    public var debugID: String? { headers["paypal-debug-id"] }
}

public enum HTTPClientError: Error, CustomStringConvertible, Equatable {
    case notAllowed(String)
    case timeout(String)
    case connect(String)
    case tooLarge(Int)
    case transport(String)

    public var description: String {
        switch self {
        case .notAllowed(let m): return "request refused: \(m)"
        case .timeout(let m): return "timed out: \(m)"
        case .connect(let m): return "cannot connect: \(m)"
        case .tooLarge(let n): return "response larger than \(n) bytes"
        case .transport(let m): return "transport error: \(m)"
        }
    }

    /// Worth retrying with the same idempotency key.
    public var isTransient: Bool {
        switch self {
        case .timeout, .connect, .transport: return true
        case .notAllowed, .tooLarge: return false
        }
    }
}

/// The one HTTP client of Lotse, over the system libcurl: timeouts, TLS verification always on (an extra CA
/// file may be given, verification is never switched off), no redirects, a response size limit, https only
/// unless the host is loopback. Blocking transfers run on a dedicated thread pool, never on the event loop.
public final class CurlClient: Sendable {
    public let connectTimeout: Double
    public let timeout: Double
    public let maxResponseBytes: Int
    public let caFile: String?
    /// A client certificate and its key (PEM files) for mutual TLS (the e-payment platform ePayBL asks for one).
    public let clientCertificate: (cert: String, key: String)?
    private let pool: DispatchQueue

    /// `curl_global_init`, exactly once per process.
    private static let globalInit: Bool = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK }()

    public init(
        connectTimeout: Double = 5,
        timeout: Double = 20,
        maxResponseBytes: Int = 1 << 20,
        caFile: String? = nil,
        clientCertificate: (cert: String, key: String)? = nil,
        concurrency: Int = 8
    ) {
        _ = Self.globalInit
        self.clientCertificate = clientCertificate
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.maxResponseBytes = maxResponseBytes
        self.caFile = caFile
        pool = DispatchQueue(label: "lotse.curl", qos: .userInitiated, attributes: .concurrent)
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago (for servers started on loopback: simulator, tests).
    public static func freeLoopbackPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// True for `http(s)://127.x.x.x`, `[::1]` and `localhost`.
    public static func isLoopback(_ url: String) -> Bool {
        guard let c = URLComponents(string: url), let host = c.host?.lowercased() else { return false }
        if host == "localhost" || host == "::1" || host == "[::1]" { return true }
        // an IPv4 literal in 127.0.0.0/8 (not a name that merely starts with "127.")
        var address = in_addr()
        return host.hasPrefix("127.") && inet_pton(AF_INET, host, &address) == 1
    }

    public static func check(_ url: String) throws {
        let lower = url.lowercased()
        if lower.hasPrefix("https://") { return }
        if lower.hasPrefix("http://") && isLoopback(url) { return }
        throw HTTPClientError.notAllowed("only https (or http to loopback) is allowed: \(url.prefix(60))")
    }

    /// Sends the request off the caller's thread.
    public func send(_ request: OutboundRequest) async throws -> OutboundReply {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<OutboundReply, Error>) in
            pool.async {
                cont.resume(with: Result { try self.sendBlocking(request) })
            }
        }
    }

    final class Sink {
        var body: [UInt8] = []
        var headers: [String: String] = [:]
        var limit: Int
        var overflow = false
        init(limit: Int) { self.limit = limit }
    }

    /// One easy handle per request.
    public func sendBlocking(_ request: OutboundRequest) throws -> OutboundReply {
        try Self.check(request.url)
        guard let h = curl_easy_init() else { throw HTTPClientError.transport("curl_easy_init failed") }
        defer { curl_easy_cleanup(h) }
        let sink = Sink(limit: maxResponseBytes)
        let unmanaged = Unmanaged.passRetained(sink)
        defer { unmanaged.release() }
        var list: UnsafeMutablePointer<curl_slist>?
        defer { if let l = list { curl_slist_free_all(l) } }

        func ok(_ code: CURLcode) throws {
            if code != CURLE_OK { throw HTTPClientError.transport(String(cString: curl_easy_strerror(code))) }
        }
        try ok(lotse_curl_setopt_string(h, CURLOPT_URL, request.url))
        try ok(lotse_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1))
        try ok(lotse_curl_setopt_long(h, CURLOPT_FOLLOWLOCATION, 0))
        try ok(lotse_curl_setopt_long(h, CURLOPT_SSL_VERIFYPEER, 1))
        try ok(lotse_curl_setopt_long(h, CURLOPT_SSL_VERIFYHOST, 2))
        if let ca = caFile { try ok(lotse_curl_setopt_string(h, CURLOPT_CAINFO, ca)) }
        if let client = clientCertificate {
            try ok(lotse_curl_setopt_string(h, CURLOPT_SSLCERT, client.cert))
            try ok(lotse_curl_setopt_string(h, CURLOPT_SSLCERTTYPE, "PEM"))
            try ok(lotse_curl_setopt_string(h, CURLOPT_SSLKEY, client.key))
            try ok(lotse_curl_setopt_string(h, CURLOPT_SSLKEYTYPE, "PEM"))
        }
        try ok(lotse_curl_setopt_long(h, CURLOPT_PROTOCOLS, Int(CURLPROTO_HTTP | CURLPROTO_HTTPS)))
        try ok(lotse_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, Int(connectTimeout * 1000)))
        try ok(lotse_curl_setopt_long(h, CURLOPT_TIMEOUT_MS, Int(timeout * 1000)))
        try ok(lotse_curl_setopt_long(h, CURLOPT_MAXFILESIZE, maxResponseBytes))
        try ok(lotse_curl_setopt_string(h, CURLOPT_CUSTOMREQUEST, request.method))
        if request.method == "HEAD" { try ok(lotse_curl_setopt_long(h, CURLOPT_NOBODY, 1)) }
        var headers = request.headers
        headers.append(("Expect", ""))
        if !headers.contains(where: { $0.0.lowercased() == "user-agent" }) { headers.append(("User-Agent", "Lotse/1")) }
        for (k, v) in headers {
            // Header injection is impossible: CR and LF never reach the wire.
            let line = (k + ": " + v).filter { $0 != "\r" && $0 != "\n" }
            list = curl_slist_append(list, line)
        }
        try ok(lotse_curl_setopt_slist(h, CURLOPT_HTTPHEADER, list))
        let body = request.body ?? []
        let bodyPtr = UnsafeMutablePointer<UInt8>.allocate(capacity: max(body.count, 1))
        defer { bodyPtr.deallocate() }
        if request.body != nil {
            bodyPtr.initialize(from: body, count: body.count)
            try ok(lotse_curl_setopt_long(h, CURLOPT_POSTFIELDSIZE, body.count))
            try ok(lotse_curl_setopt_pointer(h, CURLOPT_POSTFIELDS, bodyPtr))
        }
        try ok(lotse_curl_setopt_pointer(h, CURLOPT_WRITEDATA, unmanaged.toOpaque()))
        try ok(
            lotse_curl_setopt_callback(h, CURLOPT_WRITEFUNCTION) { ptr, size, n, user in
                let sink = Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue()
                let count = size * n
                if sink.body.count + count > sink.limit {
                    sink.overflow = true
                    return 0
                }
                if let p = ptr {
                    p.withMemoryRebound(to: UInt8.self, capacity: count) {
                        sink.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: count))
                    }
                }
                return count
            }
        )
        try ok(lotse_curl_setopt_pointer(h, CURLOPT_HEADERDATA, unmanaged.toOpaque()))
        try ok(
            lotse_curl_setopt_callback(h, CURLOPT_HEADERFUNCTION) { ptr, size, n, user in
                let sink = Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue()
                let count = size * n
                guard let p = ptr else { return count }
                let line = p.withMemoryRebound(to: UInt8.self, capacity: count) {
                    String(decoding: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self)
                }
                if line.hasPrefix("HTTP/") { sink.headers = [:] }  // a new response (e.g. after 100 Continue)
                if let colon = line.firstIndex(of: ":") {
                    let name = line[..<colon].lowercased()
                    let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
                    // Several Set-Cookie lines are kept, one per line.
                    if name == "set-cookie", let old = sink.headers[name] {
                        sink.headers[name] = old + "\n" + value
                    } else {
                        sink.headers[name] = value
                    }
                }
                return count
            }
        )
        let code = curl_easy_perform(h)
        if sink.overflow || code == CURLE_FILESIZE_EXCEEDED { throw HTTPClientError.tooLarge(maxResponseBytes) }
        switch code {
        case CURLE_OK: break
        case CURLE_OPERATION_TIMEDOUT: throw HTTPClientError.timeout(Self.redact(request.url))
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST:
            throw HTTPClientError.connect(Self.redact(request.url))
        default:
            throw HTTPClientError.transport("\(String(cString: curl_easy_strerror(code))) (\(Self.redact(request.url)))")
        }
        var status = 0
        _ = lotse_curl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)
        return OutboundReply(status: status, headers: sink.headers, body: sink.body)
    }

    /// The URL without its query (which may carry tokens) for messages and logs.
    static func redact(_ url: String) -> String { String(url.split(separator: "?", maxSplits: 1).first ?? "") }
}
