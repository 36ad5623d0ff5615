import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import LotseCore
import LotseImport
import LotseStorage
import LotseTokens
import NIOCore
import NIOPosix

/// `POST /api/v1/tickets` (formats §2b): an online handheld sends one ticket right after printing it. The request is
/// signed with the device key (`Lotse-Signature`: base64 of HMAC-SHA256 over `Lotse-Timestamp` + "\n" + the raw body);
/// the ticket is validated and written exactly like a row of an export file.
struct TicketController: Sendable {
    let env: WebEnvironment
    /// One ticket is a few hundred bytes; anything much larger is not one.
    static let maxBody = 16 * 1024
    /// How far the handheld's clock may be from the server's.
    static let maxClockSkew: Int64 = 300

    static let deviceHeader = HTTPField.Name("Lotse-Device")!
    static let timestampHeader = HTTPField.Name("Lotse-Timestamp")!
    static let signatureHeader = HTTPField.Name("Lotse-Signature")!

    func register(on router: Router<LotseContext>) {
        router.post("/api/v1/tickets") { req, ctx in try await receive(req, ctx) }
    }

    func receive(_ req: Request, _ context: LotseContext) async throws -> Response {
        let client = env.proxies.client(req, context)
        if let wait = env.authFailures.retryAfter(client) {
            return try Self.json(
                ["error": "too many failed signatures; try again later"],
                status: .tooManyRequests,
                retryAfter: Int(wait.rounded(.up))
            )
        }
        let body: ByteBuffer
        do {
            body = try await req.body.collect(upTo: Self.maxBody)
        } catch {
            return try Self.json(["error": "the body is larger than \(Self.maxBody) bytes"], status: .contentTooLarge)
        }
        let raw = Array(body.readableBytesView)
        guard let device = try await signedDevice(req, raw: raw) else {
            env.authFailures.failed(client)
            return try Self.json(["error": "unknown or revoked device, or a bad signature or timestamp"], status: .unauthorized)
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(raw)) as? [String: Any] else {
            return try Self.json(["error": "the body must be one JSON object"], status: .unprocessableContent)
        }
        var fields: [String: String] = [:]
        for (key, value) in object {
            guard let text = value as? String else {
                return try Self.json(["error": "field \(key.prefix(40)) must be a string"], status: .unprocessableContent)
            }
            // the name as the import reads it: `" device_id"` is `device_id`, and a name given twice is refused (else the
            // one checked here and the one imported could differ)
            let name = Importer.fieldName(key)
            guard fields.updateValue(text, forKey: name) == nil else {
                return try Self.json(["error": "field \(name.prefix(40)) is given twice"], status: .unprocessableContent)
            }
        }
        guard fields["device_id"]?.trimmingSpaces() == device.deviceID else {
            return try Self.json(["error": "device_id must be the sending device, \(device.deviceID)"], status: .unprocessableContent)
        }
        let importer = Importer(store: env.store, config: env.config, catalogue: try catalogue())
        let source = "api:" + device.deviceID
        let ticket = fields
        let outcome = try await NIOThreadPool.singleton.runIfActive { try importer.importTicket(ticket, source: source) }
        switch outcome {
        case .rejected(let reason):
            return try Self.json(["error": reason], status: .unprocessableContent)
        case .imported(let caseID):
            return try Self.json(try await answer(caseID: caseID, device: device), status: .created)
        case .duplicate(let caseID):
            return try Self.json(try await answer(caseID: caseID, device: device), status: .ok)
        }
    }

    /// The enrolled, unrevoked device whose key signed this request within the allowed clock skew; nil otherwise.
    func signedDevice(_ req: Request, raw: [UInt8]) async throws -> DeviceRecord? {
        guard let deviceID = req.headers[Self.deviceHeader], !deviceID.isEmpty, deviceID.count <= 64,
            let stamp = req.headers[Self.timestampHeader], let seconds = Int64(stamp),
            abs(seconds - Int64(Date().timeIntervalSince1970)) <= Self.maxClockSkew,
            let signature = req.headers[Self.signatureHeader].flatMap({ Data(base64Encoded: $0) }), signature.count == 32,
            let device = try await env.store.activeDevice(id: deviceID),
            let key = env.tokens.deviceKey(number: UInt16(device.number), generation: UInt8(device.generation), keyID: UInt8(device.keyID))
        else { return nil }
        let expected = HMAC<SHA256>.authenticationCode(for: Array((stamp + "\n").utf8) + raw, using: SymmetricKey(data: key.key))
        return ConstantTime.equal(Array(expected), Array(signature)) ? device : nil
    }

    /// `case_number`, `url` and `token` of the ticket's case: the version 2 token the handheld computes for it (the
    /// case token where the ticket cannot be one: a ticket number that is not a 32-bit number, say).
    func answer(caseID: Int64, device: DeviceRecord) async throws -> [String: String] {
        guard let c = try await env.store.caseRecord(id: caseID) else { throw HTTPError(.internalServerError) }
        var token = env.tokens.token(caseID: c.id)
        if let number = c.ticketNo.flatMap({ UInt32($0) }),
            let key = env.tokens.deviceKey(number: UInt16(device.number), generation: UInt8(device.generation), keyID: UInt8(device.keyID)),
            let claim = TicketClaim.ticket(
                keyID: key.keyID,
                deviceNumber: UInt16(device.number),
                generation: UInt8(device.generation),
                ticketNumber: number,
                issuedAt: c.issuedAt,
                tbnr: c.tbnr,
                amountCents: c.amountCents
            )
        {
            token = TicketTokens.make(claim, deviceKey: key.key)
        }
        return ["case_number": c.caseNumber, "url": TicketTokens.url(base: env.config.publicBaseURL, token: token), "token": token]
    }

    func catalogue() throws -> Catalogue {
        if let catalogue = env.catalogue { return catalogue }
        return try Catalogue(contentsOf: env.config.cataloguePath)
    }

    /// The office API's JSON answer (one encoder set-up for both), with `Retry-After` when given.
    static func json(_ value: [String: String], status: HTTPResponse.Status, retryAfter: Int? = nil) throws -> Response {
        var response = try OfficeController.json(value, status: status)
        if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }
}
