import Foundation
import Logging
import LotseCore
import LotseHTTP
import LotseStorage
import Synchronization

/// The city's e-payment platform (ePayBL, ePay21, pmPayment) behind the provider interface, through XBezahldienste
/// (formats §6).
///
/// The platform collects the money itself: there is no capture, and no signed notification. Lotse makes one payment
/// transaction per attempt (its `requestId`, random, is the order's id and the last part of the return and
/// notification URLs), sends the motorist to the platform's pay page, and books only what the platform's status read
/// says: `PAYED` with the case's amount in EUR, once per transaction (the payment's dedup key is the transaction id).
/// A return, a notification call, the sweep and the reminder guard all do the same: read the status and act on it.
/// One open transaction per case is reused (a second press, a second tab: starts of one case are taken one at a time).
public final class XBezahldiensteProvider: PaymentProvider, Sendable {
    public let id = "xbd"
    let api: XBezahldiensteAPI
    let store: Store
    let publicBaseURL: String
    let logger: Logger
    /// The button's text, the platform's name for itself ("Online bezahlen").
    public let label: String
    /// A pay page is reused this long; after it a new transaction is made.
    let transactionLifetime: Int64 = 3 * 3600
    /// A transaction still `INITIAL` a day after it was made is asked about once a day; after 60 days it is given up
    /// (the platform's pay page is long gone).
    let giveUpAfter: Int64 = 60 * 86_400
    /// A notification call for a transaction asked about less than this many seconds ago asks nothing (a flood of calls
    /// for one request id never becomes a flood at the platform).
    let notificationInterval: Double = 5
    private let lastAsked = Mutex<[String: Double]>([:])
    let clock: @Sendable () -> Int64
    private let starting = Mutex<Set<Int64>>([])

    public init(
        api: XBezahldiensteAPI,
        store: Store,
        publicBaseURL: String,
        logger: Logger = Logger(label: "lotse.xbd"),
        clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) {
        self.api = api
        self.store = store
        self.publicBaseURL = publicBaseURL
        self.logger = logger
        self.label = api.config.label
        self.clock = clock
    }

    /// The provider `config` asks for, with its HTTP client (a client certificate for mutual TLS): nil without
    /// `LOTSE_XBD_BASE_URL`. Throws `LotseError.usage` when a URL is neither https nor http on loopback, or a
    /// certificate file cannot be read.
    public static func configured(
        by config: LotseConfig,
        store: Store,
        logger: Logger = Logger(label: "lotse.xbd"),
        clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) throws -> XBezahldiensteProvider? {
        guard let xbd = config.xbd else { return nil }
        for (name, url) in [("LOTSE_XBD_BASE_URL", xbd.baseURL), ("LOTSE_XBD_TOKEN_URL", xbd.tokenURL)] {
            guard let url else { continue }
            do { try CurlClient.check(url) } catch { throw LotseError.usage("\(name) must be https (or http on loopback): \(url)") }
        }
        var client: (cert: String, key: String)?
        if xbd.auth == .mtls, let cert = xbd.clientCert, let key = xbd.clientKey {
            for (name, path) in [("LOTSE_XBD_CLIENT_CERT", cert), ("LOTSE_XBD_CLIENT_KEY", key)]
            where !FileManager.default.isReadableFile(atPath: path) {
                throw LotseError.usage("\(name): cannot read \(path)")
            }
            client = (cert, key)
        }
        let http = CurlClient(
            connectTimeout: min(5, config.paypalTimeout),
            timeout: config.paypalTimeout,
            caFile: config.caFile,
            clientCertificate: client
        )
        let api = XBezahldiensteAPI(config: xbd, http: http, logger: logger)
        return XBezahldiensteProvider(api: api, store: store, publicBaseURL: config.publicBaseURL, logger: logger, clock: clock)
    }

    func now() -> Int64 { clock() }

    public func probe() async -> ProviderProbe {
        do {
            switch try await api.platformStatus() {
            case 200: return .ok
            case let s where (400..<500).contains(s): return .refused("the platform does not know this originator and endpoint (HTTP \(s))")
            case let s: return .unreachable("HTTP \(s)")
            }
        } catch let e as XBezahldiensteError {
            return .refused("\(e)")
        } catch {
            return .unreachable("\(error)")
        }
    }

    // MARK: the hand-off

    public func start(_ c: PayableCase, language: String) async throws -> Handoff {
        // one start per case at a time: a second tab waits for the first and gets its transaction
        while !starting.withLock({ $0.insert(c.id).inserted }) { try await Task.sleep(nanoseconds: 20_000_000) }
        defer { _ = starting.withLock { $0.remove(c.id) } }
        let now = now()
        if let open = try await store.openOrder(caseID: c.id, provider: self.id, since: now - transactionLifetime) {
            if open.amountCents == c.amountCents {
                // the pay page is reused while the platform still offers it (a lost return may hide its end)
                switch try? await refresh(orderID: open.orderID) {
                case .paid?: return Handoff(redirectURL: publicBaseURL + "/pay/xbd/return/" + open.orderID, orderID: open.orderID, reused: true)
                case .cancelled?, .failed?, .unknownOrder?: break
                case .notApproved?, .pending?, nil: return Handoff(redirectURL: open.approveURL, orderID: open.orderID, reused: true)
                }
            } else {
                // a partial payment arrived since (the pay page asks too much): a new transaction; the old one is still
                // asked about until the platform says how it ended
                try await store.setOrderStatus(orderID: open.orderID, .pending, now: now)
            }
        }
        var abandoned = 0
        while true {
            let requestID = Self.newRequestID()
            let request = XBezahldiensteAPI.PaymentRequest(
                requestID: requestID,
                caseNumber: c.number,
                amountCents: c.amountCents,
                description: "Verwarnungsgeld " + c.number,
                redirectURL: publicBaseURL + "/pay/xbd/return/" + requestID,
                notifyURL: publicBaseURL + "/pay/xbd/notify/" + requestID,
                timestamp: Date(timeIntervalSince1970: TimeInterval(now))
            )
            let t: XBezahldiensteAPI.Transaction
            do {
                t = try await api.create(request)
            } catch let e as XBezahldiensteError where e.functionalCode == "PAYMENT_EXISTS" && abandoned < 2 {
                // the platform made the transaction but its reply was lost, and the retry was refused: that request
                // id is spent (nobody has its pay page); a new one
                logger.warning("xbd: request id already used at the platform (a lost reply); trying a new one")
                abandoned += 1
                try await store.abandonOrderAttempt(
                    requestID: requestID,
                    provider: self.id,
                    caseID: c.id,
                    attempt: 0,
                    amountCents: c.amountCents,
                    now: now
                )
                continue
            } catch let e as XBezahldiensteError {
                logger.error("xbd: the platform refused the payment transaction: \(e)")
                throw e
            }
            guard t.status == "INITIAL", let link = t.redirectURL, !link.isEmpty else {
                throw XBezahldiensteError(status: 200, functionalCode: nil, title: "transaction \(t.status) without a pay page")
            }
            guard link.lowercased().hasPrefix("https://") || CurlClient.isLoopback(link) else {
                throw XBezahldiensteError(status: 200, functionalCode: nil, title: "the pay page is not https")
            }
            let insertion = try await store.insertOrder(
                orderID: requestID,
                provider: self.id,
                caseID: c.id,
                attempt: 1,
                approveURL: link,
                amountCents: c.amountCents,
                language: language,
                externalID: t.transactionID,
                now: now
            )
            guard insertion == .inserted else { throw LotseError.io("xbd: request id \(requestID) is known already") }
            return Handoff(redirectURL: link, orderID: requestID, reused: false)
        }
    }

    /// A request id: 32 random hexadecimal digits (the standard allows 36 of `[A-Za-z0-9_-]`), never repeated.
    public static func newRequestID() -> String {
        UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    }

    // MARK: the way back

    /// The motorist came back: the status is read, whatever the return says.
    public func complete(orderID: String) async throws -> Completion {
        try await refresh(orderID: orderID)
    }

    /// A return from the pay page carries no proof of anything: the status read decides. Nothing is changed here.
    public func cancel(orderID: String) throws -> Completion {
        guard let o = try store.providerOrder(orderID: orderID) else { return .unknownOrder }
        return .notApproved(caseID: o.caseID)
    }

    /// The standard has no signed notification: the platform's call to `/pay/xbd/notify/{requestId}` is answered by the
    /// web with `refresh` of that request id; nothing arrives here.
    public func handleNotification(headers: [String: String], body: [UInt8]) async throws -> NotificationOutcome {
        .ignored("XBezahldienste notifications are read as status calls")
    }

    /// The platform's call to the notification URL: the status is read, unless it was read a moment ago (nil).
    public func refreshNotified(orderID: String) async throws -> Completion? {
        let now = Date().timeIntervalSince1970
        let due = lastAsked.withLock { asked -> Bool in
            if let at = asked[orderID], now - at < notificationInterval { return false }
            if asked.count > 10_000 { asked = asked.filter { now - $0.value < notificationInterval } }
            asked[orderID] = now
            return true
        }
        return due ? try await refresh(orderID: orderID) : nil
    }

    /// Reads the transaction's status from the platform and acts on it: `PAYED` with the case's amount in EUR is booked
    /// (once per transaction), `CANCELED` and `FAILED` close the order, `INITIAL` leaves it as it is.
    public func refresh(orderID: String) async throws -> Completion {
        guard let o = try await store.providerOrder(orderID: orderID), o.provider == self.id else { return .unknownOrder }
        guard let transactionID = o.externalID else { return .failed(caseID: o.caseID, reason: "no transaction") }
        if o.status == .completed { return .paid(caseID: o.caseID, captureID: transactionID, refund: false) }
        let t = try await api.transaction(transactionID)
        let now = now()
        switch t.status {
        case "PAYED":
            guard t.transactionID == transactionID, t.requestID == nil || t.requestID == orderID else {
                // not the transaction that was asked for: nothing is booked, and it is asked about again
                logger.error("xbd: the platform answered a status read with another transaction; asked again later")
                return .pending(caseID: o.caseID)
            }
            guard t.amountCents == o.amountCents, t.currency == "EUR" else {
                // money the platform collected, but not what the case asks: never booked to the case, never lost either —
                // recorded without a case (the office's unmatched list), once
                let reported = "\(t.amountCents.map(Money.plain) ?? "no amount") \(t.currency ?? "no currency")"
                logger.error(
                    "xbd: transaction reported PAYED with \(reported) for an order of \(Money.plain(o.amountCents)) EUR: on the unmatched list"
                )
                if let cents = t.amountCents {
                    let payment = IncomingPayment(
                        channel: .epayment,
                        amountCents: cents,
                        currency: t.currency ?? "",
                        paidAt: now,
                        source: "xbd",
                        dedupKey: "xbd:transaction:" + transactionID,
                        externalID: t.reference ?? transactionID,
                        reference: orderID,
                        note: "e-payment for a case asking \(Money.plain(o.amountCents)) EUR; platform reports \(reported)"
                    )
                    let outcome = try await store.recordUnassignable(orderID: orderID, transactionID: transactionID, payment: payment, now: now)
                    if outcome != .duplicate {
                        try await store.addEvent(
                            caseID: o.caseID,
                            kind: .paymentFailed,
                            at: now,
                            detail: "xbd: amount differs, payment on the unmatched list"
                        )
                    }
                }
                return .failed(caseID: o.caseID, reason: "amount or currency differ")
            }
            let payment = IncomingPayment(
                channel: .epayment,
                amountCents: o.amountCents,
                currency: "EUR",
                paidAt: now,
                source: "xbd",
                dedupKey: "xbd:transaction:" + transactionID,
                externalID: t.reference ?? transactionID,
                reference: orderID,
                note: t.method.map { "paid by \($0) through the e-payment platform" }
            )
            let outcome = try await store.recordCapture(
                orderID: orderID,
                captureID: transactionID,
                payment: payment,
                caseID: o.caseID,
                provider: self.id,
                now: now
            )
            switch outcome {
            case .duplicate: return .paid(caseID: o.caseID, captureID: transactionID, refund: false)
            case .recorded(_, let d):
                if d == .refund {
                    // the standard has no refund call: the money goes back through the office (the refund list)
                    logger.warning("xbd: a payment for a case that is paid or cancelled; it is on the refund list")
                }
                return .paid(caseID: o.caseID, captureID: transactionID, refund: d == .refund)
            }
        case "CANCELED":
            try await store.setOrderStatus(orderID: orderID, .cancelled, now: now)
            return .cancelled(caseID: o.caseID)
        case "FAILED":
            try await store.failOrder(orderID: orderID, caseID: o.caseID, event: .paymentFailed, provider: self.id, now: now)
            return .failed(caseID: o.caseID, reason: "FAILED")
        default:
            if o.createdAt < now - giveUpAfter {
                logger.warning("xbd: a transaction still \(t.status) after \(giveUpAfter / 86_400) days is given up")
                try await store.setOrderStatus(orderID: orderID, .cancelled, now: now)
                return .cancelled(caseID: o.caseID)
            }
            // asked again after the sweep's age; a day after it was made, once a day
            if o.status == .created || o.status == .pending {
                let next = o.createdAt < now - 86_400 ? now + 86_400 : now
                try await store.setOrderStatus(orderID: orderID, o.status, now: next)
            }
            return .notApproved(caseID: o.caseID)
        }
    }

    /// Reads the status of transactions left open (returns and notifications that never came).
    public func sweep(olderThan age: Int64 = 600) async -> (checked: Int, paid: Int) {
        let ids = (try? await store.staleOrders(provider: self.id, olderThan: age, now: now())) ?? []
        var paid = 0
        for id in ids {
            do {
                if case .paid = try await refresh(orderID: id) { paid += 1 }
            } catch {
                logger.warning("xbd sweep: status read failed: \(error)")
            }
        }
        return (ids.count, paid)
    }
}
