import Foundation
import Logging
import LotseHTTP

/// The providers' retry rule: timeouts, connection failures, 5xx and 429 are retried with exponential backoff, at most
/// `count` times, sending the same request (its idempotency key — PayPal-Request-Id, XBezahldienste's requestId — makes
/// a retry safe). Anything else is the answer.
struct Retries: Sendable {
    let count: Int
    let backoff: Double
    let logger: Logger
    /// The provider's name in log lines (`paypal`, `xbd`).
    let label: String

    /// `what` names the call in the log (a path shape, never an id that could be personal).
    func run(_ what: String, _ body: () async throws -> OutboundReply) async throws -> OutboundReply {
        var attempt = 0
        while true {
            do {
                let r = try await body()
                guard (r.status >= 500 || r.status == 429) && attempt < count else { return r }
                logger.warning("\(label) \(what): HTTP \(r.status), retrying", metadata: r.debugID.map { ["paypal-debug-id": "\($0)"] } ?? [:])
            } catch let e as HTTPClientError where e.isTransient && attempt < count {
                logger.warning("\(label) \(what): \(e), retrying")
            }
            attempt += 1
            try await Task.sleep(nanoseconds: UInt64(backoff * pow(2, Double(attempt - 1)) * 1e9))
        }
    }
}
