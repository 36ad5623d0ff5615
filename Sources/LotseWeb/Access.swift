import Foundation
import HTTPTypes
import Hummingbird
import Logging
import LotseCore
import LotseOffice
import LotseStorage
import LotseTokens
import NIOCore
import NIOPosix
import ServiceLifecycle

/// A bearer token check with the failure throttle: a client that sent wrong tokens waits (429 with
/// `Retry-After`) before its next token is even compared. A request without `Authorization` is not
/// a guess and does not count.
struct BearerCheck: Sendable {
    let env: WebEnvironment
    let realm: String

    /// nil when the request may go on; else the answer (401, or 429 while the client is throttled).
    /// `required`: false lets every request through (the route is open, e.g. `/metrics` without a token).
    func deny(_ req: Request, _ context: LotseContext, token: String?, required: Bool = true) -> Response? {
        guard required else { return nil }
        let client = env.proxies.client(req, context)
        if let wait = env.authFailures.retryAfter(client) { return Self.tooMany(wait) }
        let header = req.headers[.authorization]
        if OfficeController.bearerMatches(header, token) {
            env.authFailures.succeeded(client)
            return nil
        }
        if header != nil { env.authFailures.failed(client) }
        return Response(
            status: .unauthorized,
            headers: [.wwwAuthenticate: "Bearer realm=\"\(realm)\"", .contentType: "text/plain"],
            body: .init(byteBuffer: ByteBuffer(string: "token required\n"))
        )
    }

    /// `deny`, and also a user's API token (`lotse users token`) whose user has one of `roles`.
    func deny(_ req: Request, _ context: LotseContext, token: String?, roles: Set<Role>) async throws -> Response? {
        guard let refused = deny(req, context, token: token) else { return nil }
        guard refused.status == .unauthorized, let header = req.headers[.authorization], header.hasPrefix("Bearer lotse_"), header.utf8.count < 200
        else { return refused }
        let client = env.proxies.client(req, context)
        if let user = try await env.store.userOfAPIToken(hash: AccountRules.apiTokenHash(String(header.dropFirst(7)))), roles.contains(user.role) {
            env.authFailures.succeeded(client)
            return nil
        }
        return refused
    }

    static func tooMany(_ wait: Double) -> Response {
        Response(
            status: .tooManyRequests,
            headers: [.retryAfter: String(Int(wait.rounded(.up))), .contentType: "text/plain"],
            body: .init(byteBuffer: ByteBuffer(string: "too many attempts, try again later\n"))
        )
    }
}

/// Any path that neither a route nor a file answers gets the branded 404 page (in the visitor's
/// language, with the security headers the outer middleware adds), never an empty body.
struct NotFoundPageMiddleware: RouterMiddleware {
    typealias Context = LotseContext
    let motorist: MotoristController

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            return try motorist.notFound(request).response(from: request, context: context)
        }
    }
}

/// Follows `keys.json`: once a second, off the event loop, one `stat`; a changed file (a `lotse keys
/// rotate` in another process) is read again, so codes signed with the new key answer without a restart.
struct KeyRingService: Service {
    let tokens: CaseTokens
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await repeatUntilShutdown(every: interval) { [tokens, logger] in
            do {
                if try await NIOThreadPool.singleton.runIfActive({ try tokens.reloadIfChanged() }) {
                    logger.info("key ring reloaded: signing key \(tokens.ring.current.id), \(tokens.ring.keys.count) keys")
                }
            } catch {
                logger.error("key ring: \(error)")
            }
        }
    }
}
