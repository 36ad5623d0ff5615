import Foundation
import Logging
import LotseCore
import LotseHTTP
import LotseStorage

extension PayPalProvider {
    /// The PayPal provider `config` asks for, with its HTTP client: nil without client id and secret.
    /// The composition roots (`lotse serve`, the demo pilot) and the tests build it here; the web only receives it.
    /// Throws `LotseError.usage` when `LOTSE_PAYPAL_API_BASE` is neither https nor http on loopback.
    public static func configured(
        by config: LotseConfig,
        store: Store,
        logger: Logger = Logger(label: "lotse.paypal"),
        clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) throws -> PayPalProvider? {
        guard let clientID = config.paypalClientID, let secret = config.paypalClientSecret else { return nil }
        do {
            try CurlClient.check(config.paypalAPIBase)
        } catch {
            throw LotseError.usage("LOTSE_PAYPAL_API_BASE must be https (or http on loopback): \(config.paypalAPIBase)")
        }
        let http = CurlClient(connectTimeout: min(5, config.paypalTimeout), timeout: config.paypalTimeout, caFile: config.caFile)
        let api = PayPalAPI(base: config.paypalAPIBase, clientID: clientID, secret: secret, http: http, logger: logger)
        return PayPalProvider(
            api: api,
            store: store,
            publicBaseURL: config.publicBaseURL,
            webhookID: config.paypalWebhookID,
            certificates: config.paypalWebhookVerification == .offline
                ? WebhookCertificates(http: http, apiBase: config.paypalAPIBase, logger: logger) : nil,
            logger: logger,
            clock: clock
        )
    }
}
