import ArgumentParser
import Foundation
import LotseBank
import LotseCore
import LotseImport
import LotseOffice
import LotsePayments
import LotseStorage

func printErr(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

/// Runs `body` for each file; a file that fails is reported on one line and the others still run.
/// The command then ends with status 1.
func eachFile(_ files: [String], _ body: (String) throws -> Void) throws {
    var failed = false
    for file in files {
        do { try body(file) } catch let e as LotseError {
            printErr("lotse: " + e.description)
            failed = true
        }
    }
    if failed { throw ExitCode(1) }
}

func jsonLine<T: Encodable>(_ value: T) throws -> String {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    enc.keyEncodingStrategy = .convertToSnakeCase
    return String(decoding: try enc.encode(value), as: UTF8.self)
}

struct ReconcileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Import camt.054/camt.053 bank files and match their payments to cases."
    )

    @OptionGroup var common: CommonOptions
    @Argument(help: "camt.054 or camt.053 files (versions 02 and 08).") var files: [String]

    func run() throws {
        let config = try common.config()
        let store = try common.store(config)
        let reconciler = Reconciler(store: store)
        try eachFile(files) { file in
            let s = try reconciler.reconcile(file)
            try store.noteRun(.reconcile, at: Int64(Date().timeIntervalSince1970))
            print(s.line)
            if let d = s.details { print(d) }
            for p in s.problems { printErr("lotse: " + p) }
        }
    }
}

struct PaymentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "payments",
        abstract: "Payments: import cash-office payments, list what needs the office, assign by hand.",
        subcommands: [Import.self, List.self, Assign.self, Refund.self]
    )

    struct Refund: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Refund a PayPal payment of the refund list through PayPal (once, however often it is asked)."
        )
        @OptionGroup var common: CommonOptions
        @Argument(help: "Payment id (from `lotse payments list refunds`).") var payment: Int64

        func run() async throws {
            let config = try common.config()
            let store = try common.store(config)
            guard let paypal = try PayPalProvider.configured(by: config, store: store) else {
                throw LotseError.usage("PayPal is not configured (LOTSE_PAYPAL_CLIENT_ID, LOTSE_PAYPAL_CLIENT_SECRET)")
            }
            switch try await paypal.refundFromList(paymentID: payment) {
            case .refunded(let id): print("payment \(payment) refunded through PayPal (refund \(id))")
            case .alreadyRefunded(let id): print("payment \(payment) was refunded through PayPal already" + (id.map { " (refund \($0))" } ?? ""))
            case .notOnRefundList: throw LotseError.input("payment \(payment) is not on the refund list")
            case .notPayPal: throw LotseError.input("payment \(payment) was not made through PayPal: refund it by bank transfer")
            case .refused(let issue): throw LotseError.input("PayPal refused to refund payment \(payment) (\(issue)); it stays on the refund list")
            }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import payments from the cash office or other systems (;-CSV: case_number;amount_eur;paid_on[;channel][;receipt_no])."
        )
        @OptionGroup var common: CommonOptions
        @Argument(help: "CSV files.") var files: [String]

        func run() throws {
            let config = try common.config()
            let importer = PaymentsImporter(store: try common.store(config), config: config)
            try eachFile(files) { file in
                let s = try importer.importFile(file)
                print(s.line)
                if let r = s.rejectsFile { print("\(file): rejected rows written to \(r)") }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List payments for the office: unmatched (default), partial, refunds, rejected."
        )
        enum Which: String, ExpressibleByArgument, CaseIterable { case unmatched, partial, refunds, rejected }
        @OptionGroup var common: CommonOptions
        @Argument(help: "unmatched, partial, refunds or rejected.") var which: Which = .unmatched
        @Flag(help: "Machine-readable output.") var json = false

        func run() throws {
            let store = try common.store(common.config())
            let list: [PaymentRecord]
            switch which {
            case .unmatched: list = try store.payments(.unmatched)
            case .partial: list = try store.payments(.partial)
            case .rejected: list = try store.payments(.rejected)
            case .refunds: list = try store.refundList()
            }
            if json {
                print(try jsonLine(list))
                return
            }
            if list.isEmpty {
                print("no \(which.rawValue) payments")
                return
            }
            print("id      booked      amount     to refund  case               payer / note")
            for p in list {
                let d = BerlinTime.local(p.paidAt).date.description
                let amount = Money.display(p.amountCents, language: "en")
                let refund = p.refundCents > 0 ? Money.display(p.refundCents, language: "en") : ""
                let what = [p.payer, p.reference, p.note].compactMap { $0 }.joined(separator: " | ")
                print(
                    "\(pad(p.id, 6))  \(d)  \(amount.padding(toLength: 9, withPad: " ", startingAt: 0))  \(refund.padding(toLength: 9, withPad: " ", startingAt: 0))  \((p.caseNumber ?? "–").padding(toLength: 17, withPad: " ", startingAt: 0))  \(what)"
                )
            }
        }

        func pad(_ n: Int64, _ w: Int) -> String {
            let s = String(n)
            return s.count >= w ? s : s + String(repeating: " ", count: w - s.count)
        }
    }

    struct Assign: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Assign an unmatched payment to a case by hand.")
        @OptionGroup var common: CommonOptions
        @Argument(help: "Payment id (from `lotse payments list`).") var payment: Int64
        @Argument(help: "Case number.") var number: String

        func run() throws {
            let store = try common.store(common.config())
            let (d, n) = try store.assignPayment(id: payment, toCase: number, at: Int64(Date().timeIntervalSince1970))
            switch d {
            case .paid: print("payment \(payment) assigned to \(n): the case is paid")
            case .partial: print("payment \(payment) assigned to \(n): too little, the case stays open")
            case .refund: print("payment \(payment) assigned to \(n): the case was already paid or cancelled, the payment is on the refund list")
            case .unmatched, .rejected: print("payment \(payment): \(d.rawValue)")
            }
        }
    }
}

struct DunningCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dunning",
        abstract: "Mark overdue cases and write the reminder list (cases past deadline + grace days)."
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "Day of the run, yyyy-mm-dd (default: today in Europe/Berlin).") var asOf: String?
    @Option(help: "Reminder list to write (default: DATA_DIR/reminders/reminders-DATE.csv).") var out: String?

    func run() async throws {
        let config = try common.config()
        let (day, at) = try runDay(asOf)
        let store = try common.store(config)
        // the reminder guard: every open order of a case due is asked first; a payment in flight holds the case back
        var providers: [any PaymentProvider] = []
        if let paypal = try PayPalProvider.configured(by: config, store: store) { providers.append(paypal) }
        if let epayment = try XBezahldiensteProvider.configured(by: config, store: store) { providers.append(epayment) }
        let guarded = try await ReminderGuard.check(store: store, providers: providers, remindBefore: day.adding(days: -config.graceDays))
        let summary = try Dunning.run(
            store: store,
            asOf: day,
            graceDays: config.graceDays,
            at: at,
            out: out ?? Dunning.defaultOut(dataDir: config.dataDir, asOf: day),
            holdBack: Set(guarded.held.map(\.caseID))
        )
        print(summary.line)
        if guarded.paid > 0 {
            print("\(guarded.paid) payment\(guarded.paid == 1 ? "" : "s") found completed at the provider before the run: not reminded")
        }
        for h in guarded.held {
            print("held back: \(h.caseNumber) has a payment in flight (\(h.provider)); the next run lists it if it is still unpaid")
        }
        // payments made for a ticket that was never imported go back after LOTSE_PENDING_DAYS
        let cutoff = BerlinTime.utc(date: day.adding(days: -config.pendingDays), hour: 0, minute: 0)
        let expired = try store.refundPaymentsWaitingSince(before: cutoff, pendingDays: config.pendingDays)
        if expired > 0 {
            print(
                "\(expired) payment\(expired == 1 ? "" : "s") waited more than \(config.pendingDays) days for a ticket never imported: on the refund list"
            )
        }
        let unclaimed = try store.cancelProvisionalCases(openedBefore: cutoff, pendingDays: config.pendingDays, now: at)
        if unclaimed > 0 {
            print(
                "\(unclaimed) case\(unclaimed == 1 ? "" : "s") paid online before import waited more than \(config.pendingDays) days for a ticket never imported: cancelled, money on the refund list"
            )
        }
    }
}
