import Foundation
import Logging
import LotseCore
import LotseStorage

/// "Paid but still reminded" is what users of payment portals complain of most. Before a dunning run lists anyone,
/// every open order (PayPal) or transaction (the e-payment platform) of a case it would list is asked for its state:
/// what the provider reports paid is booked (the case is then not listed), and a case whose payment is still in flight
/// (not finished, or the provider could not be asked) is held back this run. A case is held back once: the next run
/// lists it if it is still unpaid, so an abandoned pay page cannot keep a case from the dunning.
public enum ReminderGuard {
    public struct Held: Sendable, Equatable {
        public var caseID: Int64
        public var caseNumber: String
        public var provider: String
    }

    /// Asks the providers about the open orders of the cases due (a deadline before `remindBefore`). Returns the
    /// cases to hold back and how many payments were found completed.
    public static func check(
        store: Store,
        providers: [any PaymentProvider],
        remindBefore: CivilDate,
        logger: Logger = Logger(label: "lotse.dunning")
    ) async throws -> (held: [Held], paid: Int) {
        let (orders, heldBefore) = try await store.ordersOfDueCases(remindBefore: remindBefore)
        var inFlight: [Int64: String] = [:]
        var paidCases: Set<Int64> = []
        for order in orders {
            let outcome: Completion?
            if let provider = providers.first(where: { $0.id == order.provider }) {
                do {
                    outcome = try await provider.refresh(orderID: order.orderID)
                } catch {
                    logger.warning("reminder guard: \(order.provider) could not be asked about an open order: \(error)")
                    outcome = nil
                }
            } else {
                logger.warning("reminder guard: an open order of \(order.provider), which is not configured")
                outcome = nil
            }
            switch outcome {
            case .paid(let caseID, _, _)?: paidCases.insert(caseID)
            case .cancelled?, .failed?, .unknownOrder?: break
            case .pending?, .notApproved?, nil: inFlight[order.caseID] = order.provider
            }
        }
        let holding = inFlight.filter { !paidCases.contains($0.key) && !heldBefore.contains($0.key) }
        let numbers = try await store.caseNumbers(ids: Array(holding.keys))
        let held = holding.keys.sorted().map { Held(caseID: $0, caseNumber: numbers[$0] ?? "#\($0)", provider: holding[$0]!) }
        return (held, paidCases.count)
    }
}
