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
            say(s.line)
            if let r = s.rejectsFile { say("  rejected rows written to \(r)") }
        }
        // The sample bank statement pays some of these cases (batch, typed references, one unmatched, one too small).
        for f in statements {
            let s = try Reconciler(store: store).reconcile(samples + "/" + f, displayName: "pilot-data/samples/" + f)
            say(s.line)
            if let d = s.details { say("  " + d) }
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
            say("demo: building a \(months)-month pilot from \(first) to \(last) (seed \(seed)) through the real code paths …")
            let bar = ProgressBar(first: first, last: last, terminal: isatty(STDOUT_FILENO) == 1)
            let s = try await DemoPilot(
                config: config,
                store: store,
                catalogue: try common.catalogue(config),
                start: first,
                months: months,
                end: last,
                seed: seed,
                simulator: sim,
                log: { bar.line($0) },
                progress: { bar.show(day: $0, cases: $1) }
            ).run()
            bar.finish()
            say("demo: \(s.cases) tickets, \(s.views) page views, \(s.paypal) PayPal payments, \(s.transfers) transfers, \(s.cash) cash payments")
        }
        let out = config.dataDir + "/qr"
        let batch = QRBatch(store: store, tokens: try common.tokens(config), baseURL: config.publicBaseURL, workers: config.qrWorkers)
        let r = try batch.write(caseNumbers: [], outDir: out, format: .svg)
        _ = try batch.write(caseNumbers: r.caseNumbers, outDir: out + "-png", format: .png)
        say("wrote \(r.written) QR codes to \(out)/ as SVG and to \(out)-png/ as PNG (manifest \(r.manifest))")
        let tokens = try common.tokens(config)
        // one case of each state, newest first, to look at
        for (label, state) in try store.demoShowcase() {
            say("case page of \(state.caseNumber) (\(label)): \(config.publicBaseURL)/T/\(tokens.token(caseID: state.id))")
        }
        if config.payeeIBAN == nil && !config.demo {
            // demo mode is a setting of the server: its GiroCode then uses a clearly marked demo account
            say("serve with LOTSE_DEMO=1 (as `make demo` does) for GiroCodes to the demo account, or set LOTSE_PAYEE_*")
        }
    }
}

/// Writes a line to standard output at once (unbuffered, also through a pipe: `make demo | tee` shows each line as the
/// demo gets there, in order with the progress bar).
func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// The demo's progress: on a terminal, one bar redrawn in place (`[#####·····]  45 %  2026-05-01  12,345 tickets`)
/// with the log lines printed above it; elsewhere (a pipe, a CI log) only the log lines, one per month.
final class ProgressBar {
    let first: CivilDate
    let days: Int
    let terminal: Bool
    var shown = -1

    init(first: CivilDate, last: CivilDate, terminal: Bool) {
        self.first = first
        self.days = max(last.daysSinceEpoch - first.daysSinceEpoch + 1, 1)
        self.terminal = terminal
    }

    func line(_ text: String) {
        say(terminal ? "\r\u{1B}[K" + text : text)
        if terminal && shown >= 0 { draw(shown, cases: nil) }
    }

    func show(day: CivilDate, cases: Int) {
        guard terminal else { return }
        let percent = min(100, (day.daysSinceEpoch - first.daysSinceEpoch + 1) * 100 / days)
        guard percent != shown else { return }
        shown = percent
        draw(percent, cases: (day, cases))
    }

    var lastLabel = ""

    private func draw(_ percent: Int, cases: (CivilDate, Int)?) {
        if let (day, n) = cases { lastLabel = "  \(day)  \(n) tickets" }
        let filled = percent * 30 / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: "·", count: 30 - filled)
        let text = "\r\u{1B}[K[\(bar)] \(String(repeating: " ", count: percent < 10 ? 2 : percent < 100 ? 1 : 0))\(percent) %" + lastLabel
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    func finish() {
        if terminal && shown >= 0 { say("") }
    }
}
