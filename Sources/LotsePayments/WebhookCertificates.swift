import Crypto
import Foundation
import Logging
import LotseCore
import LotseHTTP
import Synchronization
import X509
import _CryptoExtras

/// PayPal's offline webhook verification (formats §5): the signature in `PAYPAL-TRANSMISSION-SIG` is SHA256withRSA over
/// `transmission_id|transmission_time|webhook_id|crc32(raw body as unsigned decimal)`, checked against the certificate
/// named in `PAYPAL-CERT-URL`. That URL comes with the webhook, so it is believed only for PayPal's hosts (https,
/// `paypal.com` and its subdomains) or the configured API's own origin (the simulator); a certificate is fetched once
/// and kept while it is valid (at most a day), and must be valid now.
public final class WebhookCertificates: Sendable {
    let http: CurlClient
    /// The configured API base, whose origin is trusted as well (`LOTSE_PAYPAL_API_BASE`).
    let apiBase: String
    let logger: Logger
    /// Certificates by URL (at most `capacity`), and URLs that failed a moment ago (not fetched again for a minute).
    private let cache = Mutex<[String: (key: _RSA.Signing.PublicKey, until: Double)]>([:])
    private let failed = Mutex<[String: Double]>([:])
    let capacity = 16

    public init(http: CurlClient, apiBase: String, logger: Logger = Logger(label: "lotse.paypal")) {
        self.http = http
        self.apiBase = apiBase
        self.logger = logger
    }

    /// Whether `url` may name PayPal's certificate.
    public func isTrustedSource(_ url: String) -> Bool {
        guard let c = URLComponents(string: url), let scheme = c.scheme?.lowercased(), let host = c.host?.lowercased(),
            c.user == nil, c.password == nil, c.query == nil, c.fragment == nil, url.utf8.count <= 512
        else { return false }
        if scheme == "https" && (host == "paypal.com" || host.hasSuffix(".paypal.com")) && (c.port == nil || c.port == 443) { return true }
        guard let api = URLComponents(string: apiBase) else { return false }
        return scheme == api.scheme?.lowercased() && host == api.host?.lowercased() && c.port == api.port
    }

    /// Verifies one webhook offline: false for anything missing, a certificate from elsewhere, or a wrong signature.
    public func verify(headers: [String: String], rawEvent: [UInt8], webhookID: String) async -> Bool {
        func h(_ n: String) -> String? { headers[n.lowercased()].flatMap { $0.isEmpty ? nil : $0 } }
        guard let id = h("PAYPAL-TRANSMISSION-ID"), let time = h("PAYPAL-TRANSMISSION-TIME"), let sig = h("PAYPAL-TRANSMISSION-SIG"),
            let certURL = h("PAYPAL-CERT-URL"), h("PAYPAL-AUTH-ALGO") == "SHA256withRSA", let signature = Data(base64Encoded: sig)
        else { return false }
        guard isTrustedSource(certURL) else {
            logger.warning("paypal webhook names a certificate outside PayPal's hosts: refused")
            return false
        }
        guard let key = await publicKey(certURL) else { return false }
        let message = "\(id)|\(time)|\(webhookID)|\(CRC32.checksum(rawEvent))"
        return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: Data(message.utf8), padding: .insecurePKCS1v1_5)
    }

    /// The certificate's RSA key, from the cache or fetched.
    func publicKey(_ url: String) async -> _RSA.Signing.PublicKey? {
        let now = Date().timeIntervalSince1970
        if let hit = cache.withLock({ $0[url] }), hit.until > now { return hit.key }
        if let at = failed.withLock({ $0[url] }), now - at < 60 { return nil }
        let key = await fetch(url, now: now)
        if key == nil {
            failed.withLock { f in
                if f.count >= 256 { f = f.filter { now - $0.value < 60 } }
                f[url] = now
            }
        }
        return key
    }

    func fetch(_ url: String, now: Double) async -> _RSA.Signing.PublicKey? {
        do {
            let reply = try await http.send(OutboundRequest(url: url))
            guard reply.status == 200 else {
                logger.warning("paypal certificate: HTTP \(reply.status)")
                return nil
            }
            let certificate = try Certificate(pemEncoded: reply.text)
            guard certificate.notValidBefore.timeIntervalSince1970 <= now, now <= certificate.notValidAfter.timeIntervalSince1970,
                let key = _RSA.Signing.PublicKey(certificate.publicKey)
            else {
                logger.warning("paypal certificate: not valid now, or not an RSA key")
                return nil
            }
            let until = min(now + 86_400, certificate.notValidAfter.timeIntervalSince1970)
            cache.withLock { c in
                if c.count >= capacity { c = c.filter { $0.value.until > now } }
                if c.count < capacity { c[url] = (key, until) }
            }
            return key
        } catch {
            logger.warning("paypal certificate could not be read: \(error)")
            return nil
        }
    }
}
