import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// The first of the "additional channel handlers" (after HTTP decoding, before `CasePageChannelHandler`),
/// so it sees every request part and every response, whoever answers it.
///
/// Timeouts: a connection with no request in progress is closed after `idleTimeout` without one (the
/// first request's head must arrive within `readTimeout` of the connection opening); while a request is
/// being read, each part must follow the last within `readTimeout`. A head sent half (no end of its header
/// lines) is no part at all, so it counts as idle: a slow or stalled client holds a connection for
/// seconds, not minutes. While the server is answering, nothing is closed.
///
/// Security headers: a response that leaves without them (Hummingbird's own 400 for a request its parser
/// refuses is written without the router) gets them here.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let idleTimeout: TimeAmount
    let readTimeout: TimeAmount
    let securityFields: [HTTPField]
    /// Requests whose head was read and whose response has not ended yet.
    private var inProgress = 0
    /// A head was read and its end not yet.
    private var reading = false
    private var lastActivity = NIODeadline.now()
    private var servedOne = false
    private var timer: Scheduled<Void>?

    init(idleTimeout: TimeAmount, readTimeout: TimeAmount, securityFields: [HTTPField]) {
        self.idleTimeout = idleTimeout
        self.readTimeout = readTimeout
        self.securityFields = securityFields
    }

    func handlerAdded(context: ChannelHandlerContext) {
        lastActivity = .now()
        if context.channel.isActive { schedule(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        lastActivity = .now()
        schedule(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActivity = .now()
        switch unwrapInboundIn(data) {
        case .head:
            inProgress += 1
            reading = true
        case .body:
            break
        case .end:
            reading = false
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.headerFields[.contentSecurityPolicy] == nil:
            head.headerFields.append(contentsOf: securityFields)
            context.write(wrapOutboundOut(.head(head)), promise: promise)
            return
        case .end:
            inProgress = max(0, inProgress - 1)
            servedOne = true
            lastActivity = .now()
        default:
            break
        }
        context.write(data, promise: promise)
    }

    /// How long the connection may stay as it is now; nil while the server answers.
    private var allowance: TimeAmount? {
        if reading { return readTimeout }
        if inProgress > 0 { return nil }
        return servedOne ? idleTimeout : readTimeout
    }

    private func schedule(_ context: ChannelHandlerContext) {
        guard timer == nil else { return }
        let wait = allowance.map { lastActivity + $0 - .now() } ?? readTimeout
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: max(wait, .milliseconds(10))) {
            let (handler, context) = loopBound.value
            handler.timer = nil
            handler.check(context)
        }
    }

    private func check(_ context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        if let allowance, NIODeadline.now() >= lastActivity + allowance {
            context.close(promise: nil)
            return
        }
        schedule(context)
    }
}
