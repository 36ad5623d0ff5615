import Dispatch
import Foundation
import HTTPTypes
import Hummingbird
import LotseStorage
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Answers `GET /T/{token}` for a valid token inside the connection's NIO pipeline, on its event loop,
/// with the page `MotoristController.casePage` builds: the same bytes and header fields as the router
/// would send, the same security headers, request metrics and page-view event.
///
/// Everything else goes on to Hummingbird's router unchanged: other paths, other methods (HEAD too), a
/// forged or unknown token (the router answers the 404), `Connection: close` (anything but keep-alive),
/// a full socket buffer, or any error. The handler sits where Hummingbird's `HTTP1Channel` puts
/// "additional channel handlers": after HTTP decoding, before the async request loop.
///
/// Why: the case page is the one page under load (every scanned ticket). Through the router each
/// request also passes `NIOAsyncChannel`'s streams, a task resumption and the middleware chain;
/// here it costs the token check, the case cache and the compiled template. A case not in the cache (a miss)
/// is read by the cache's own thread (`CaseCache.load`), which reads every miss waiting at that moment in one go;
/// meanwhile the connection reads nothing more and holds what it already read, and when the case is there the page is
/// answered here (or, for an unknown case or an error, the request goes on to the router). Nothing here ever waits on
/// SQLite.
///
/// Order on a connection is kept: while a request passed on is still unanswered, later requests
/// are passed on as well, so pipelined responses leave in the order the requests came; while a miss is read, the
/// parts after it wait and follow its answer.
final class CasePageChannelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let responder: CasePageResponder
    /// Requests passed on to the router whose response has not been written yet.
    private var passedOn = 0
    /// The current request is answered here: its body and end are dropped.
    private var answered = false
    private var needsFlush = false
    /// A case page whose case is being read (a miss), and the parts read after its head, held until it is answered.
    private var loading: (head: HTTPRequest, held: [HTTPRequestPart])?
    /// A read from the socket asked for while loading, done once the page is answered.
    private var readPending = false
    /// Parts held behind a miss at which the socket's reading pauses.
    static let heldBeforePause = 8

    init(responder: CasePageResponder) {
        self.responder = responder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if loading != nil {
            loading?.held.append(part)
            return
        }
        switch part {
        case .head(let head):
            switch passedOn == 0 && context.channel.isWritable ? responder.respond(to: head) : .router {
            case .page(let response, let body):
                answer(context, response, body)
            case .miss(let miss):
                loading = (head, [])
                let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
                let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                let loop = context.eventLoop
                responder.motorist.env.caseCache.load(id: miss.id) { record in
                    loop.execute { handler.value.loaded(bound.value, miss, record) }
                }
            case .router:
                answered = false
                passedOn += 1
                context.fireChannelRead(data)
            }
        case .body:
            if !answered { context.fireChannelRead(data) }
        case .end:
            if answered { answered = false } else { context.fireChannelRead(data) }
        }
    }

    private func answer(_ context: ChannelHandlerContext, _ response: HTTPResponse, _ body: ByteBuffer) {
        answered = true
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: nil)
        needsFlush = true
    }

    /// The case of the held request has been read (`record`, nil for an unknown case or an error): its page is answered
    /// here as a hit's would be, or the request goes on to the router; then the parts held behind it, in order.
    private func loaded(_ context: ChannelHandlerContext, _ miss: CasePageResponder.CaseRequest, _ record: CaseRecord?) {
        guard let (head, held) = loading else { return }
        loading = nil
        guard context.channel.isActive else { return }
        if context.channel.isWritable, let record, case .page(let response, let body) = responder.page(head, miss, record) {
            answer(context, response, body)
        } else {
            answered = false
            passedOn += 1
            context.fireChannelRead(wrapInboundOut(.head(head)))
        }
        for part in held { channelRead(context: context, data: wrapInboundOut(part)) }
        channelReadComplete(context: context)
        if readPending && loading == nil {
            readPending = false
            context.read()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    /// While a miss is read, the socket is read further only until a few parts are held (a client cannot pile up
    /// requests meanwhile); below that nothing changes, so a miss costs no change of the socket's registration (two
    /// `epoll_ctl` calls).
    func read(context: ChannelHandlerContext) {
        if let loading, loading.held.count >= Self.heldBeforePause {
            readPending = true
        } else {
            context.read()
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { passedOn = max(0, passedOn - 1) }
        context.write(data, promise: promise)
    }
}

/// Builds the case page for `CasePageChannelHandler` (shared by all connections).
struct CasePageResponder: Sendable {
    let motorist: MotoristController
    /// `SecurityHeadersMiddleware`'s fields, appended last as the middleware does.
    let securityFields: [HTTPField]
    let metrics: RequestMetrics
    /// Counts the pages answered here.
    let fastPath: CaseFastPath
    /// The `Date` field Hummingbird adds to every response.
    let date = HTTPDate()

    /// What the pipeline does with a request.
    enum Answer {
        /// The case page, answered here.
        case page(HTTPResponse, ByteBuffer)
        /// A case page whose case is not in the case cache: read off the loop first (`CaseCache.load`), then `page`.
        case miss(CaseRequest)
        /// Anything else: the router answers it.
        case router
    }

    /// A case page asked for with a valid token: its case, route name and token.
    struct CaseRequest: Sendable {
        let id: Int64
        let route: String
        let token: String
    }

    /// The answer to a request: a case page of a valid (version 1) token as GET with keep-alive is a page or a miss;
    /// everything else goes to the router.
    func respond(to head: HTTPRequest) -> Answer {
        guard head.method == .get, let path = head.path, let (route, token) = Self.casePath(path) else { return .router }
        // `Connection: close` (and anything but keep-alive): the router's request loop closes the connection
        if let connection = head.headerFields[.connection], connection.lowercased() != "keep-alive" { return .router }
        guard let id = motorist.env.tokens.verify(token) else { return .router }
        let request = CaseRequest(id: id, route: route, token: token)
        guard let c = motorist.env.caseCache.cached(id: id) else { return .miss(request) }
        return page(head, request, c)
    }

    /// The page of case `c` (found for `head`'s token, in the cache or read for a miss), or `.router` if it cannot be
    /// built here.
    func page(_ head: HTTPRequest, _ found: CaseRequest, _ c: CaseRecord) -> Answer {
        let (route, token) = (found.route, found.token)
        let start = DispatchTime.now().uptimeNanoseconds
        let request = Request(head: head, body: .init(buffer: ByteBuffer()))
        guard let html = try? motorist.casePage(request, case: c, token: token).encoded(for: request) else { return .router }
        var fields = html.responseHeaders
        fields[.contentLength] = String(html.body.readableBytes)
        fields.append(contentsOf: securityFields)
        fields[.date] = date.now()
        metrics.record(route, .get, Int(html.status.code), start, error: false)
        fastPath.answeredCount.add(1, ordering: .relaxed)
        return .page(HTTPResponse(status: html.status, headerFields: fields), html.body)
    }

    /// `/T/{token}` or `/t/{token}` (with or without a query): the route's name as the router's
    /// metrics call it, and the token. Anything else (a trailing slash, a further segment) is nil.
    static func casePath(_ path: String) -> (route: String, token: String)? {
        let utf8 = path.utf8
        guard utf8.count > 3 else { return nil }
        var i = utf8.startIndex
        guard utf8[i] == UInt8(ascii: "/") else { return nil }
        i = utf8.index(after: i)
        let route: String
        switch utf8[i] {
        case UInt8(ascii: "T"): route = "/T/{token}"
        case UInt8(ascii: "t"): route = "/t/{token}"
        default: return nil
        }
        i = utf8.index(after: i)
        guard utf8[i] == UInt8(ascii: "/") else { return nil }
        let tokenStart = utf8.index(after: i)
        var end = tokenStart
        while end != utf8.endIndex, utf8[end] != UInt8(ascii: "?") {
            let b = utf8[end]
            // letters and digits only (tokens are base32); anything else is the router's to judge
            guard (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) else { return nil }
            end = utf8.index(after: end)
        }
        guard end != tokenStart else { return nil }
        return (route, String(path[tokenStart..<end]))
    }
}

/// The HTTP date (RFC 9110, `Sun, 06 Nov 1994 08:49:37 GMT`) of the current second, formatted once a second.
final class HTTPDate: Sendable {
    private let current = Mutex((second: 0, text: ""))
    static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    func now() -> String {
        let second = Int(time(nil))
        return current.withLock { c in
            if c.second != second { c = (second, Self.format(second)) }
            return c.text
        }
    }

    static func format(_ seconds: Int) -> String {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(1900 + parts.tm_year) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}

/// Turns the case page's pipeline answer on (`buildApplication(caseFastPath:)`) and counts its pages.
public final class CaseFastPath: Sendable {
    let answeredCount = Atomic<Int>(0)

    public init() {}

    /// Case pages answered in the pipeline so far (the rest went through the router).
    public var answered: Int { answeredCount.load(ordering: .relaxed) }
}
