import Foundation
import Logging
import LotseBank
import LotseCore
import LotseHTTP
import LotseImport
import LotseOffice
import LotsePayments
import LotseStorage
import Synchronization

/// A synthetic pilot built by running the real code paths day by day: handheld exports imported, page views
/// recorded by the server's event recorder, PayPal payments through the simulator (start, approval, capture),
/// transfers arriving days later in camt.054 files (typed references, free text, batches, some unmatched),
/// cash payments imported weekly, and the daily dunning run. No figures are written into tables directly.
public struct DemoPilot {
    public let config: LotseConfig
    public let store: Store
    public let catalogue: Catalogue
    public let start: CivilDate
    /// The last day with tickets: by default the last day of the `months` from `start`; `lotse demo` without
    /// `--start` passes today, so that the pilot ends today.
    public let end: CivilDate
    /// The wall clock: nothing of the pilot happens after it (today's tickets are issued before it).
    public let now: Int64
    public let months: Int
    public let seed: UInt64
    public let simulator: String
    public let log: (String) -> Void
    /// Called after each day is built, with the cases so far (a progress bar).
    public let progress: (_ day: CivilDate, _ cases: Int) -> Void

    public init(
        config: LotseConfig,
        store: Store,
        catalogue: Catalogue,
        start: CivilDate,
        months: Int,
        end: CivilDate? = nil,
        now: Int64 = Int64(Date().timeIntervalSince1970),
        seed: UInt64,
        simulator: String,
        log: @escaping (String) -> Void,
        progress: @escaping (_ day: CivilDate, _ cases: Int) -> Void = { _, _ in }
    ) {
        self.progress = progress
        self.config = config
        self.store = store
        self.catalogue = catalogue
        self.start = start
        self.end = end ?? start.addingMonths(months).adding(days: -1)
        self.now = now
        self.months = months
        self.seed = seed
        self.simulator = simulator
        self.log = log
    }

    enum Action {
        case view(Int64, String)
        case paypal(Int64, Bool)
        case transfer(Int64, Int)  // kind: 0 structured RF, 1 free text, 2 no reference
        case cash(Int64)
        /// The office cancels the case (a wrong plate, a valid permit shown later).
        case cancel(Int64)
    }

    struct Scheduled {
        var at: Int64
        var action: Action
    }

    public struct Summary: Sendable {
        public var cases = 0
        public var views = 0
        public var paypal = 0
        public var transfers = 0
        public var cash = 0
    }

    public func run() async throws -> Summary {
        var dice = SeededRandom(seed: seed)
        var summary = Summary()
        let end = self.end
        let now = self.now
        let today = BerlinTime.local(now).date
        let dir = config.dataDir + "/demo"
        try FileManager.default.createDirectory(atPath: dir + "/exports", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/bank", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/cash", withIntermediateDirectories: true)

        // The PayPal simulator on a free loopback port; the provider runs on the pilot's clock.
        let port = CurlClient.freeLoopbackPort()
        let sim = Process()
        sim.executableURL = URL(fileURLWithPath: simulator)
        sim.arguments = ["--port", String(port), "--client-id", "demo-client", "--client-secret", "demo-secret", "--seed", String(seed)]
        sim.standardOutput = FileHandle.nullDevice
        sim.standardError = FileHandle.nullDevice
        try sim.run()
        defer {
            kill(sim.processIdentifier, SIGKILL)
            sim.waitUntilExit()
        }
        let http = CurlClient(connectTimeout: 2, timeout: 10)
        let simBase = "http://127.0.0.1:\(port)"
        var up = false
        for _ in 0..<100 where !up {
            up = ((try? http.sendBlocking(OutboundRequest(url: simBase + "/sim/orders")))?.status == 200)
            if !up { usleep(50_000) }
        }
        guard up else { throw LotseError.io("\(simulator): the PayPal simulator did not start") }
        let clock = PilotClock()
        var quiet = Logger(label: "lotse.demo")
        quiet.logLevel = .error
        // the same builder as `lotse serve`'s, pointed at the simulator
        var simulated = config
        simulated.paypalAPIBase = simBase
        simulated.paypalClientID = "demo-client"
        simulated.paypalClientSecret = "demo-secret"
        simulated.paypalWebhookID = nil
        simulated.paypalTimeout = 10
        simulated.caFile = nil
        guard let paypal = try PayPalProvider.configured(by: simulated, store: store, logger: quiet, clock: { clock.now }) else {
            throw LotseError.io("the demo's PayPal provider is not configured")
        }
        let importer = Importer(store: store, config: config, catalogue: catalogue)
        let recorder = EventRecorder(store: store, onFailure: { [quiet] in quiet.error("\($0)") })
        let reconciler = Reconciler(store: store)
        let payments = PaymentsImporter(store: store, config: config)
        let payee = config.payeeIBAN ?? Payee.demo.iban

        // The offence mix: the catalogue's Verwarnungsgeld offences, cheap ones far more often.
        let offences = catalogue.offences.values.filter { $0.amountCents <= Catalogue.warningFineCeilingCents }
            .sorted { $0.tbnr < $1.tbnr }
        var weighted: [Offence] = []
        for o in offences { weighted += Array(repeating: o, count: o.amountCents <= 2000 ? 6 : o.amountCents <= 3500 ? 3 : 1) }
        let streets = [
            "Fackelstraße", "Marktstraße", "Eisenbahnstraße", "Schillerplatz", "Mühlstraße", "Kerststraße",
            "Pirmasenser Straße", "Mainzer Straße", "Rudolf-Breitscheid-Straße", "Königstraße",
        ]
        let perWeekday = [6, 28, 31, 31, 32, 29, 17]  // Sunday … Saturday
        let season = [0.9, 0.95, 1.0, 1.0, 1.05, 1.05, 0.95, 0.8, 1.05, 1.05, 1.0, 0.85]  // January … December

        var queue: [Scheduled] = []
        var transfersByDay: [CivilDate: [(Int64, Int)]] = [:]
        var cashRows: [String] = []
        var ticketNo = 0
        // After the last day of tickets no new ones, but payments, statements and dunning runs go on up to today
        // (at most 40 days), so that the last months are as complete as the day the figures are read. Nothing
        // happens after `now`: a pilot that ends today is today's state.
        let until = min(max(end, today), end.adding(days: 40), today)
        var day = start
        while day <= until {
            let dayStart = BerlinTime.utc(date: day, hour: 0, minute: 0)
            // 07:00 the bank's statement of the day (the transfers booked the day before); 08:00 the dunning run.
            if dayStart + 7 * 3600 <= now, let list = transfersByDay.removeValue(forKey: day), !list.isEmpty {
                let path = dir + "/bank/camt054-\(day).xml"
                try writeCamt(path, day: day, transfers: list, payee: payee, dice: &dice)
                _ = try reconciler.reconcile(path, displayName: "camt054-\(day).xml", now: dayStart + 7 * 3600)
                summary.transfers += list.count
            }
            if dayStart + 8 * 3600 <= now {
                _ = try Dunning.run(
                    store: store,
                    asOf: day,
                    graceDays: config.graceDays,
                    at: dayStart + 8 * 3600,
                    out: dir + "/reminders/reminders-\(day).csv"
                )
            }
            // What motorists do today, in time order (up to now).
            queue.sort { $0.at < $1.at }
            let dayEnd = min(dayStart + 86400, now)
            var i = 0
            while i < queue.count && queue[i].at < dayEnd {
                let s = queue[i]
                i += 1
                switch s.action {
                case .view(let id, let lang):
                    // the server's recorder (batched), as a page view over HTTP would record it
                    recorder.record(caseID: id, kind: .pageViewed, detail: "lang=" + lang, at: s.at)
                    summary.views += 1
                case .paypal(let id, let completes):
                    clock.set(s.at)
                    guard let c = try await store.caseRecord(id: id),
                        c.status.isPayable
                    else { continue }
                    let h = try await paypal.start(
                        PayableCase(id: c.id, number: c.caseNumber, amountCents: c.dueCents),
                        language: dice.chance(0.1) ? "en" : "de"
                    )
                    let back = try await http.send(OutboundRequest(url: h.redirectURL + "&sim_action=" + (completes ? "approve" : "cancel")))
                    guard back.status == 303 else { continue }
                    clock.set(s.at + Int64(dice.int(60...400)))
                    if completes {
                        _ = try await paypal.complete(orderID: h.orderID)
                        summary.paypal += 1
                    } else {
                        _ = try paypal.cancel(orderID: h.orderID)
                    }
                case .transfer(let id, let kind):
                    // on the next morning's statement
                    transfersByDay[BerlinTime.local(s.at).date.adding(days: 1), default: []].append((id, kind))
                case .cancel(let id):
                    if let c = try await store.caseRecord(id: id), c.status != .paid, c.status != .cancelled {
                        _ = try store.cancelCase(number: c.caseNumber, reason: "Parkausweis nachgereicht", at: s.at)
                    }
                case .cash(let id):
                    if let c = try await store.caseRecord(id: id) {
                        cashRows.append(
                            "\(c.caseNumber);\(Money.plain(c.amountCents).replacingOccurrences(of: ".", with: ","));\(BerlinTime.local(s.at).date);KA-\(id)"
                        )
                    }
                }
            }
            queue.removeFirst(i)
            recorder.flush()
            // Cash-office payments come in once a week, on Friday at 16:00 (not yet, on a Friday the pilot ends before then:
            // nothing in the demo happens after now).
            if day.weekday == 5 && !cashRows.isEmpty && dayStart + 16 * 3600 <= now {
                let path = dir + "/cash/kasse-\(day).csv"
                try ("case_number;amount_eur;paid_on;receipt_no\n" + cashRows.joined(separator: "\n") + "\n").write(
                    toFile: path,
                    atomically: true,
                    encoding: .utf8
                )
                _ = try payments.importFile(path, now: dayStart + 16 * 3600)
                summary.cash += cashRows.count
                cashRows.removeAll()
            }
            // 20:00 the day's handheld export is imported; today's (if the pilot ends today) as soon as it is done,
            // with the tickets issued so far.
            let lastHour = day < today ? 18 : min(18, BerlinTime.local(now).hour - 1)
            let importAt = day < today ? dayStart + 20 * 3600 : now - 60
            let count =
                day > end || lastHour < 7 ? 0 : Int((Double(perWeekday[day.weekday]) * season[day.month - 1] * (0.8 + 0.4 * dice.unit())).rounded())
            if count > 0 {
                var csv = "ticket_no;device_id;officer_id;issued_at;plate;tbnr;street;house_no;zip;city;qr_printed\n"
                var tickets: [(String, Bool)] = []
                for _ in 0..<count {
                    ticketNo += 1
                    let device = "HH-0\(1 + ticketNo % 6)"
                    let qr = !dice.chance(0.1)
                    let t = String(format: "%02d:%02d", dice.int(7...lastHour), dice.int(0...59))
                    let o = dice.pick(weighted)
                    let letters = ["A", "B", "C", "D", "E", "F", "G", "H", "K", "L", "M", "N", "P", "R", "S", "T"]
                    let plate =
                        "\(dice.pick(["KL", "KL", "KL", "KUS", "PS", "LU", "MA", "DÜW"]))-\(dice.pick(letters))\(dice.pick(letters)) \(dice.int(1...9999))"
                    csv +=
                        "\(ticketNo);\(device);DN \(100 + ticketNo % 9);\(day)T\(t);\(plate);\(o.tbnr);\(dice.pick(streets));\(dice.int(1...120));67655;Kaiserslautern;\(qr ? 1 : 0)\n"
                    tickets.append(("\(device)/\(ticketNo)", qr))
                }
                let path = dir + "/exports/handheld-\(day).csv"
                try csv.write(toFile: path, atomically: true, encoding: .utf8)
                _ = try importer.importFile(path, displayName: "handheld-\(day).csv", now: importAt)
                let issued = tickets
                let ids = zip(try store.caseIDs(sourceIDs: issued.map(\.0)), issued).map { ($0.0!, $0.1.1) }
                summary.cases += ids.count
                for (id, qr) in ids {
                    schedule(id, qr: qr, imported: importAt, deadline: day.adding(days: config.paymentDays), into: &queue, dice: &dice)
                }
            }
            if day.day == 1 { log("demo: \(day) … \(summary.cases) cases so far") }
            progress(day, summary.cases)
            day = day.adding(days: 1)
        }
        return summary
    }

    /// One motorist's behaviour. Tickets with a QR code are scanned and paid sooner; the control group without
    /// a code is found through the lookup form less often and pays by transfer more.
    func schedule(_ id: Int64, qr: Bool, imported: Int64, deadline: CivilDate, into queue: inout [Scheduled], dice: inout SeededRandom) {
        let hour: Int64 = 3600
        if dice.chance(0.01) {
            // the office cancels a few cases (a permit shown later, a wrong plate)
            queue.append(Scheduled(at: imported + Int64(dice.int(20...200)) * hour, action: .cancel(id)))
        }
        var t = imported + Int64(dice.int(1...40)) * hour
        let scanned = dice.chance(qr ? 0.64 : 0.1)
        if scanned {
            let lang = dice.chance(0.11) ? "en" : "de"
            queue.append(Scheduled(at: t, action: .view(id, lang)))
            if dice.chance(0.35) { queue.append(Scheduled(at: t + Int64(dice.int(1...72)) * hour, action: .view(id, lang))) }
            if dice.chance(0.5) {
                let completes = dice.chance(0.9)
                queue.append(Scheduled(at: t + Int64(dice.int(1...20)) * 60, action: .paypal(id, completes)))
                if completes { return }
                t += Int64(dice.int(1...30)) * hour
            }
        }
        let r = dice.unit()
        let late = dice.chance(qr ? 0.12 : 0.22)
        let deadlineTime = BerlinTime.utc(date: deadline, hour: 12, minute: 0)
        let when = late ? deadlineTime + Int64(dice.int(8...30)) * 86400 : min(t + Int64(dice.int(1...6)) * 86400, deadlineTime + 2 * 86400)
        if r < (qr ? 0.72 : 0.68) {
            // kind 3: a transfer of too little (half the amount, with the reference): the case stays open, partly paid
            let kind = dice.chance(0.03) ? 3 : scanned ? (dice.chance(0.8) ? 0 : dice.chance(0.9) ? 1 : 2) : (dice.chance(0.85) ? 1 : 2)
            queue.append(Scheduled(at: when + Int64(dice.int(1...2)) * 86400, action: .transfer(id, kind)))
        } else if r < 0.8 {
            queue.append(Scheduled(at: when, action: .cash(id)))
        }
        // the rest never pay: they get a reminder, and the next step of the procedure
    }

    /// A camt.054 (v02) of one booking day: mostly single credits, some batches.
    func writeCamt(_ path: String, day: CivilDate, transfers: [(Int64, Int)], payee: String, dice: inout SeededRandom) throws {
        var entries = ""
        var k = 0
        var rest = transfers[...]
        while !rest.isEmpty {
            let n = rest.count >= 3 && dice.chance(0.08) ? 3 : 1
            let part = Array(rest.prefix(n))
            rest = rest.dropFirst(n)
            k += 1
            var txs = ""
            var total = 0
            for (id, kind) in part {
                guard let c = try store.caseRecord(id: id) else { continue }
                let amount = kind == 3 ? c.amountCents / 2 : c.amountCents
                total += amount
                let rmt: String
                switch kind {
                case 0, 3: rmt = "<Strd><CdtrRefInf><Ref>\(RFReference.make(from: c.caseNumber)!)</Ref></CdtrRefInf></Strd>"
                case 1: rmt = "<Ustrd>Verwarnung \(c.caseNumber.replacingOccurrences(of: "-", with: " ").lowercased())</Ustrd>"
                default: rmt = "<Ustrd>Knoellchen \(c.plate.filter { $0.isLetter || $0.isNumber })</Ustrd>"
                }
                txs +=
                    "<TxDtls><Refs><AcctSvcrRef>\(day)-\(k)-\(id)</AcctSvcrRef></Refs><AmtDtls><TxAmt><Amt Ccy=\"EUR\">\(Money.plain(amount))</Amt></TxAmt></AmtDtls><RltdPties><Dbtr><Nm>Demo Zahler</Nm></Dbtr></RltdPties><RmtInf>\(rmt)</RmtInf></TxDtls>"
            }
            let batch = part.count > 1 ? "<Btch><NbOfTxs>\(part.count)</NbOfTxs><TtlAmt Ccy=\"EUR\">\(Money.plain(total))</TtlAmt></Btch>" : ""
            entries +=
                "<Ntry><Amt Ccy=\"EUR\">\(Money.plain(total))</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>\(day.adding(days: -1))</Dt></BookgDt><AcctSvcrRef>\(day)-\(k)</AcctSvcrRef><NtryDtls>\(batch)\(txs)</NtryDtls></Ntry>\n"
        }
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"><BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>DEMO-\(day)</MsgId></GrpHdr>
            <Ntfctn><Id>\(day)</Id><Acct><Id><IBAN>\(payee.filter { $0 != " " })</IBAN></Id></Acct>
            \(entries)</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>
            """
        try xml.write(toFile: path, atomically: true, encoding: .utf8)
    }
}

/// The pilot's time, set as the simulated day goes on and read by the PayPal provider.
final class PilotClock: Sendable {
    private let seconds = Mutex<Int64>(0)
    var now: Int64 { seconds.withLock { $0 } }
    func set(_ value: Int64) { seconds.withLock { $0 = value } }
}

extension CivilDate {
    /// The first day of the month `n` months on (back, for a negative `n`); `keepingDay`: the same day of that
    /// month (the month's last day where it is shorter).
    public func addingMonths(_ n: Int, keepingDay: Bool = false) -> CivilDate {
        let m0 = (year * 12 + (month - 1)) + n
        let first = CivilDate(year: m0 / 12, month: m0 % 12 + 1, day: 1)
        guard keepingDay else { return first }
        let length = first.addingMonths(1).adding(days: -1).day
        return CivilDate(year: first.year, month: first.month, day: min(day, length))
    }
}
