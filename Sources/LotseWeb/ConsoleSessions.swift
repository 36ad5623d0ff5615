import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import LotseCore
import LotseStorage

/// A signed-in user's session, kept server-side (in SQLite through `SQLitePersistDriver`); the cookie holds only its
/// random id.
public struct ConsoleSession: Codable, Sendable {
    public var user: String
    public var lastSeen: Int64
    /// When it began, in milliseconds: a password changed or a user disabled in the same second still ends it.
    public var startedAtMillis: Int64
}

/// hummingbird-auth's key-value store, in the data directory's database: sessions survive a restart, and every
/// process of one installation sees the same ones.
struct SQLitePersistDriver: PersistDriver {
    let store: Store

    func create<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws {
        guard try await store.keyValueSet(key: key, value: try JSONEncoder().encode(value), expiresAt: Self.deadline(expires), create: true) else {
            throw PersistError.duplicate
        }
    }

    func set<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws {
        _ = try await store.keyValueSet(key: key, value: try JSONEncoder().encode(value), expiresAt: Self.deadline(expires), create: false)
    }

    func get<Object: Codable & Sendable>(key: String, as: Object.Type) async throws -> Object? {
        try await getWithTTL(key: key, as: Object.self)?.object
    }

    func getWithTTL<Object: Codable & Sendable>(key: String, as: Object.Type) async throws -> (object: Object, ttl: Duration?)? {
        let now = Date().timeIntervalSince1970
        guard let (data, expiresAt) = try await store.keyValueGet(key: key, now: now) else { return nil }
        guard let object = try? JSONDecoder().decode(Object.self, from: data) else { throw PersistError.invalidConversion }
        return (object, expiresAt.map { .seconds($0 - now) })
    }

    func remove(key: String) async throws {
        try await store.keyValueRemove(key: key)
    }

    func shutdown() async throws {}

    /// Removes expired sessions every ten minutes.
    func run() async throws {
        await repeatUntilShutdown(every: .seconds(600)) { [store] in
            try? await store.keyValuePurge(now: Date().timeIntervalSince1970)
        }
    }

    static func deadline(_ d: Duration?) -> Double? {
        d.map { Date().timeIntervalSince1970 + Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }
    }
}

/// The console's rules for sessions, enforced on the server whatever the cookie says.
enum ConsoleSessionRules {
    /// Signed out after 30 minutes without a request, and 8 hours after signing in.
    static let idle: Int64 = 30 * 60
    static let absolute: Int64 = 8 * 3600
    static let cookie = "lotse_session"
}

/// Lets a request through a route group only with a live session of a user who is enabled, has not changed the password
/// since, and has one of `roles`. Otherwise: a page (GET) goes to the sign-in, anything else is refused (401 without a
/// session, 403 with the wrong role). A request also keeps the session alive (its idle time starts again).
struct ConsoleAccess: RouterMiddleware {
    typealias Context = LotseContext
    let env: WebEnvironment
    let roles: Set<Role>

    /// The user of the request's session if the session is live (not idle too long, not too old, the user enabled and
    /// the password unchanged since it began); a dead session is cleared.
    static func liveUser(_ env: WebEnvironment, _ context: LotseContext, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> UserRecord?
    {
        guard let session = context.sessions.session else { return nil }
        guard now - session.lastSeen <= ConsoleSessionRules.idle, now - session.startedAtMillis / 1000 <= ConsoleSessionRules.absolute,
            let user = try await env.store.user(name: session.user), !user.disabled, user.sessionsValidAfter < session.startedAtMillis
        else {
            context.sessions.clearSession()
            return nil
        }
        return user
    }

    func handle(_ request: Request, context: LotseContext, next: (Request, LotseContext) async throws -> Response) async throws -> Response {
        let now = Int64(Date().timeIntervalSince1970)
        guard let session = context.sessions.session, let user = try await Self.liveUser(env, context, now: now) else {
            return Self.signIn(request, status: .unauthorized)
        }
        guard roles.contains(user.role) else {
            return Response(
                status: .forbidden,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: .init(string: "not for your role\n"))
            )
        }
        if now - session.lastSeen >= 60 {
            // the idle clock starts again (written at most once a minute)
            var touched = session
            touched.lastSeen = now
            context.sessions.createSession(touched, expiresIn: .seconds(ConsoleSessionRules.idle))
        }
        var context = context
        context.consoleUser = user
        return try await next(request, context)
    }

    static func signIn(_ request: Request, status: HTTPResponse.Status) -> Response {
        if request.method == .get {
            let next =
                request.uri.path.hasPrefix("/office")
                ? "?next=" + (request.uri.path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "") : ""
            return Response(status: .seeOther, headers: [.location: "/office/login" + next, .cacheControl: "no-store"])
        }
        return Response(
            status: status,
            headers: [.contentType: "text/plain; charset=utf-8"],
            body: .init(byteBuffer: .init(string: "sign in first\n"))
        )
    }
}
