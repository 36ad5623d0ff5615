import ArgumentParser
import Foundation
import LotseBank
import LotseCore
import LotseDemo
import LotseImport
import LotseOffice
import LotseStorage

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Fill a data directory with a demo pilot from the files in pilot-data/."
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "Months of synthetic pilot to build through the real code paths (0: only the sample files).") var months: Int = 12
    @Option(help: "Seed of the synthetic pilot.") var seed: UInt64 = 1
    @Option(help: "First day of the pilot, yyyy-mm-dd (default: --months before today, so that the pilot ends today).") var start: String?

    func run() async throws {
        let config = try common.config()
        let store = try common.store(config)
        let importer = Importer(store: store, config: config, catalogue: try common.catalogue(config))
        let samples = (config.cataloguePath as NSString).deletingLastPathComponent + "/samples"
        let files = (try? FileManager.default.contentsOfDirectory(atPath: samples))?.sorted() ?? []
        guard !files.isEmpty else { throw LotseError.input("\(samples): no sample exports found") }
        let statements = files.filter { $0.hasPrefix("camt") }
        for f in files where !f.hasPrefix(".") && !statements.contains(f) {
            let s = try importer.importFile(samples + "/" + f, displayName: "pilot-data/samples/" + f)
            print(s.line)
            if let r = s.rejectsFile { print("  rejected rows written to \(r)") }
        }
        // The sample bank statement pays some of these cases (batch, typed references, one unmatched, one too small).
        for f in statements {
            let s = try Reconciler(store: store).reconcile(samples + "/" + f, displayName: "pilot-data/samples/" + f)
            print(s.line)
            if let d = s.details { print("  " + d) }
        }
        if months > 0 {
            let today = BerlinTime.local(Int64(Date().timeIntervalSince1970)).date
            var first = today.addingMonths(-months, keepingDay: true)
            var last = today
            if let start {
                guard let given = CivilDate(iso: start), given.isValid else { throw LotseError.usage("--start '\(start)' is not a date yyyy-mm-dd") }
                first = given
                last = given.addingMonths(months, keepingDay: true).adding(days: -1)
            }
            let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            let sim = (exe as NSString).deletingLastPathComponent + "/lotse-paypal-sim"
            print("demo: building a \(months)-month pilot from \(first) to \(last) (seed \(seed)) through the real code paths …")
            let s = try await DemoPilot(
                config: config,
                store: store,
                catalogue: try common.catalogue(config),
                start: first,
                months: months,
                end: last,
                seed: seed,
                simulator: sim,
                log: { print($0) }
            ).run()
            print("demo: \(s.cases) tickets, \(s.views) page views, \(s.paypal) PayPal payments, \(s.transfers) transfers, \(s.cash) cash payments")
        }
        let out = config.dataDir + "/qr"
        let batch = QRBatch(store: store, tokens: try common.tokens(config), baseURL: config.publicBaseURL, workers: config.qrWorkers)
        let r = try batch.write(caseNumbers: [], outDir: out, format: .svg)
        _ = try batch.write(caseNumbers: r.caseNumbers, outDir: out + "-png", format: .png)
        print("wrote \(r.written) QR codes to \(out)/ as SVG and to \(out)-png/ as PNG (manifest \(r.manifest))")
        let tokens = try common.tokens(config)
        // one case of each state, newest first, to look at
        for (label, state) in try store.demoShowcase() {
            print("case page of \(state.caseNumber) (\(label)): \(config.publicBaseURL)/T/\(tokens.token(caseID: state.id))")
        }
        if config.payeeIBAN == nil && !config.demo {
            // demo mode is a setting of the server: its GiroCode then uses a clearly marked demo account
            print("serve with LOTSE_DEMO=1 (as `make demo` does) for GiroCodes to the demo account, or set LOTSE_PAYEE_*")
        }
    }
}
