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
    @Option(help: "First day of the pilot, yyyy-mm-dd.") var start: String = "2025-11-01"

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
            guard let first = CivilDate(iso: start), first.isValid else { throw LotseError.usage("--start '\(start)' is not a date yyyy-mm-dd") }
            let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            let sim = (exe as NSString).deletingLastPathComponent + "/lotse-paypal-sim"
            print("demo: building a \(months)-month pilot from \(first) (seed \(seed)) through the real code paths …")
            let s = try await DemoPilot(
                config: config,
                store: store,
                catalogue: try common.catalogue(config),
                start: first,
                months: months,
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
        // the first case still to pay and the first paid one
        let shown = try [store.firstCase(statuses: [.open, .overdue, .reminded]), store.firstCase(statuses: [.paid])]
            .compactMap { $0 }.sorted { $0.status.rawValue < $1.status.rawValue }
            .map { ($0.id, $0.caseNumber, $0.status.rawValue) }
        for (id, number, status) in shown {
            print("case page of \(number) (\(status)): \(config.publicBaseURL)/T/\(tokens.token(caseID: id))")
        }
        if config.payeeIBAN == nil && !config.demo {
            // demo mode is a setting of the server: its GiroCode then uses a clearly marked demo account
            print("serve with LOTSE_DEMO=1 (as `make demo` does) for GiroCodes to the demo account, or set LOTSE_PAYEE_*")
        }
    }
}
