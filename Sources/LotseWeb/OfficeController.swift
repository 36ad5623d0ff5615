import Foundation
import HTTPTypes
import Hummingbird
import LotseBank
import LotseCore
import LotseImport
import LotsePayments
import LotseStorage
import NIOCore
import NIOPosix

/// The office API: uploads of handheld exports and bank statements, and the payments that need a
/// person. Every route needs `Authorization: Bearer LOTSE_OFFICE_TOKEN`; without a configured token they answer 401.
struct OfficeController: Sendable {
    let env: WebEnvironment
    /// Uploads are streamed to disk, never held in memory; this is the most a single upload may be.
    static let maxUpload = 1 << 30

    func register(on router: Router<LotseContext>) {
        router.post("/api/v1/bank-statements") { req, ctx in
            try await upload(req, ctx) { path, name in
                try Reconciler(store: env.store).reconcile(path, displayName: name)
            }
        }
        router.post("/api/v1/imports") { req, ctx in
            try await upload(req, ctx) { path, name in
                let catalogue = try Catalogue(contentsOf: env.config.cataloguePath)
                return try Importer(store: env.store, config: env.config, catalogue: catalogue).importFile(path, displayName: name)
            }
        }
        router.get("/api/v1/payments") { req, ctx -> Response in
            if let denied = try await authorize(req, ctx) { return denied }
            let which = req.uri.queryParameters.get("list") ?? "unmatched"
            let disposition: Disposition
            switch which {
            case "refunds": disposition = .refund
            case "unmatched": disposition = .unmatched
            case "partial": disposition = .partial
            case "rejected": disposition = .rejected
            default: throw HTTPError(.badRequest, message: "list must be unmatched, partial, refunds or rejected")
            }
            return try Self.json(try await env.store.paymentList(disposition))
        }
        // a PayPal payment of the refund list goes back through PayPal's API (idempotent: pressing twice refunds once)
        router.post("/api/v1/payments/:id/refund") { req, ctx -> Response in
            if let denied = try await authorize(req, ctx) { return denied }
            guard let id = ctx.parameters.get("id").flatMap(Int64.init) else { throw HTTPError(.badRequest, message: "payment id") }
            guard let paypal = env.paypal as? PayPalProvider else { throw HTTPError(.conflict, message: "PayPal is not configured") }
            let outcome = try await paypal.refundFromList(paymentID: id)
            let reply: OfficeRefundReply
            switch outcome {
            case .refunded(let refundID): reply = .init(payment: id, outcome: "refunded", refundID: refundID)
            case .alreadyRefunded(let refundID): reply = .init(payment: id, outcome: "already_refunded", refundID: refundID)
            case .notOnRefundList: reply = .init(payment: id, outcome: "not_on_refund_list", refundID: nil)
            case .notPayPal: reply = .init(payment: id, outcome: "not_paypal", refundID: nil)
            case .refused(let issue): reply = .init(payment: id, outcome: "refused: " + issue, refundID: nil)
            }
            let status: HTTPResponse.Status
            switch outcome {
            case .refunded, .alreadyRefunded: status = .ok
            case .notOnRefundList: status = .notFound
            case .notPayPal, .refused: status = .conflict
            }
            return try Self.json(reply, status: status)
        }
    }

    struct OfficeRefundReply: Encodable {
        var payment: Int64
        var outcome: String
        var refundID: String?
    }

    static func bearerMatches(_ header: String?, _ token: String?) -> Bool {
        guard let token, !token.isEmpty, let h = header, h.hasPrefix("Bearer ") else { return false }
        return ConstantTime.equal(h.dropFirst(7).utf8, token.utf8)
    }

    /// nil when the office token is right; else 401 (or 429 for a client that guessed wrong too often).
    func authorize(_ req: Request, _ context: LotseContext) async throws -> Response? {
        try await BearerCheck(env: env, realm: "lotse-office").deny(req, context, token: env.config.officeToken, roles: [.office, .admin])
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        enc.keyEncodingStrategy = .convertToSnakeCase
        return Response(
            status: status,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: try enc.encode(value)))
        )
    }

    /// Streams the body to a file in the data directory, runs `work` on it off the event loop, answers its summary.
    func upload<T: Encodable & Sendable>(
        _ req: Request,
        _ context: LotseContext,
        _ work: @escaping @Sendable (String, String) throws -> T
    ) async throws -> Response {
        if let denied = try await authorize(req, context) { return denied }
        let name = Self.safeName(req.uri.queryParameters.get("name") ?? "upload")
        let dir = Self.uploadsDirectory(dataDir: env.config.dataDir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let path = dir + "/" + UUID().uuidString + "-" + name
        // the spool file holds plates, names and IBANs: the office's eyes only, whatever the umask
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
            let handle = FileHandle(forWritingAtPath: path)
        else {
            throw HTTPError(.internalServerError)
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        var size = 0
        do {
            for try await buffer in req.body {
                size += buffer.readableBytes
                if size > Self.maxUpload { throw HTTPError(.contentTooLarge, message: "upload larger than \(Self.maxUpload) bytes") }
                handle.write(Data(buffer.readableBytesView))
            }
            try handle.close()
        } catch {
            try? handle.close()
            throw error
        }
        do {
            let summary = try await NIOThreadPool.singleton.runIfActive { try work(path, name) }
            return try Self.json(summary)
        } catch let e as LotseError {
            // Errors name the upload, not the spool file.
            let message = e.description.replacingOccurrences(of: path, with: name)
            return try Self.json(["error": message], status: .unprocessableContent)
        }
    }

    static func uploadsDirectory(dataDir: String) -> String { dataDir + "/uploads" }

    static func safeName(_ s: String) -> String {
        let cleaned = String(s.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0) }.prefix(80))
        return cleaned.isEmpty || cleaned.hasPrefix(".") ? "upload" : cleaned
    }
}
