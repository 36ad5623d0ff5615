import Crypto
import Foundation
import LotseCore
import LotseHTTP
import LotseTokens

/// `POST /api/v1/tickets` (formats §2b): the ticket as one JSON object, signed with the device key over
/// timestamp + LF + the raw body.
enum Push {
    /// The device API's URL under `base`: scheme and host lower-cased (the key file's base URL is upper case for
    /// the QR code's alphanumeric mode), the path kept as it is.
    static func endpoint(base: String) -> String {
        var base = base
        while base.hasSuffix("/") { base.removeLast() }
        guard let schemeEnd = base.range(of: "://") else { return base + "/api/v1/tickets" }
        let authorityEnd = base[schemeEnd.upperBound...].firstIndex(of: "/") ?? base.endIndex
        return base[..<authorityEnd].lowercased() + base[authorityEnd...] + "/api/v1/tickets"
    }

    /// The headers of a signed request: `Lotse-Device`, `Lotse-Timestamp` (unix seconds), `Lotse-Signature`
    /// (base64 of HMAC-SHA256 under the device key of the timestamp, LF and the body).
    static func headers(deviceID: String, deviceKey: [UInt8], timestamp: Int64, body: [UInt8]) -> [(String, String)] {
        let message = Array("\(timestamp)\n".utf8) + body
        let signature = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: deviceKey))
        return [
            ("Content-Type", "application/json"),
            ("Lotse-Device", deviceID),
            ("Lotse-Timestamp", String(timestamp)),
            ("Lotse-Signature", Data(signature).base64EncodedString()),
        ]
    }

    /// Sends the ticket; returns the server's status and body.
    static func send(_ ticket: Ticket, key: DeviceKeyFile, server: String?) throws -> OutboundReply {
        guard let deviceKey = key.keyBytes else { throw LotseError.input("the key file holds no device key") }
        let body = try ticket.json()
        let url = server.map { endpoint(base: $0) } ?? endpoint(base: key.baseURL)
        let timestamp = Int64(Date().timeIntervalSince1970)
        let request = OutboundRequest(
            method: "POST",
            url: url,
            headers: headers(deviceID: key.deviceID, deviceKey: deviceKey, timestamp: timestamp, body: body),
            body: body
        )
        do {
            return try CurlClient(connectTimeout: 5, timeout: 20).sendBlocking(request)
        } catch let error as HTTPClientError {
            throw LotseError.io("push to \(url): \(error)")
        }
    }
}
