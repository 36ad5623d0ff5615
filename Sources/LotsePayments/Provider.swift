import Foundation
import Logging
import LotseCore
import LotseStorage

/// A case as a provider sees it.
public struct PayableCase: Sendable {
    public var id: Int64
    public var number: String
    /// What is still due (the case's amount less partial payments received): what the order asks for.
    public var amountCents: Int
    public init(id: Int64, number: String, amountCents: Int) {
        self.id = id
        self.number = number
        self.amountCents = amountCents
    }
}

/// Where to send the motorist.
public struct Handoff: Sendable, Equatable {
    public var redirectURL: String
    public var orderID: String
    /// An open order was reused (button pressed again, second tab).
    public var reused: Bool
}

/// What came of a return, a notification or a status check.
public enum Completion: Sendable, Equatable {
    /// Paid; `refund` when the money arrived for a case already paid (it goes on the refund list).
    case paid(caseID: Int64, captureID: String, refund: Bool)
    /// The provider holds the payment (e.g. PENDING review); the webhook will confirm it.
    case pending(caseID: Int64)
    /// The payer has not approved (yet).
    case notApproved(caseID: Int64)
    case cancelled(caseID: Int64)
    case failed(caseID: Int64, reason: String)
    case unknownOrder

    public var caseID: Int64? {
        switch self {
        case .paid(let c, _, _), .pending(let c), .notApproved(let c), .cancelled(let c), .failed(let c, _): return c
        case .unknownOrder: return nil
        }
    }
}

/// What a provider said when asked whether Lotse can work with it (`lotse check`).
public enum ProviderProbe: Sendable, Equatable {
    case ok
    /// It answered, and refused the credentials or the configuration.
    case refused(String)
    /// It did not answer (network, timeout, 5xx).
    case unreachable(String)
}

public enum NotificationOutcome: Sendable, Equatable {
    case rejected  // failed verification: 400, nothing changed
    case duplicate  // seen before
    case handled(String)  // event type
    case ignored(String)  // not ours or not relevant
}

/// A payment provider behind the pages: a second one (XBezahldienste: pmPayment, ePay21, GiroCheckout) implements
/// the same four steps without touching the pages.
public protocol PaymentProvider: Sendable {
    var id: String { get }
    /// Starts (or resumes) a payment; the motorist is sent to `redirectURL`.
    func start(_ c: PayableCase, language: String) async throws -> Handoff
    /// The motorist came back approved: complete (capture) the payment.
    func complete(orderID: String) async throws -> Completion
    /// The motorist came back having cancelled.
    func cancel(orderID: String) throws -> Completion
    /// A notification from the provider (verified before anything changes).
    func handleNotification(headers: [String: String], body: [UInt8]) async throws -> NotificationOutcome
    /// Asks the provider for the state of an order and acts on it (for returns and notifications that never came).
    func refresh(orderID: String) async throws -> Completion
    /// Looks at orders started but never finished (lost returns and notifications) and retries what is owed (refunds);
    /// run by the server every few minutes. Returns how many orders were checked and how many of them came out paid.
    func sweep(olderThan age: Int64) async -> (checked: Int, paid: Int)
    /// Asks the provider for an access token with the configured credentials (nothing is booked).
    func probe() async -> ProviderProbe
}
