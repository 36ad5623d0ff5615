import ArgumentParser
import Foundation
import GRDB
import LotseBank
import LotseCore
import LotseImport
import LotseOffice
import LotseStorage

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Fill a data directory with a demo pilot from the files in pilot-data/.")

    @OptionGroup var common: CommonOptions

    func run() throws {
        let config = common.config()
        let store = try common.store(config)
        // demo mode: the GiroCode uses a clearly marked demo account unless LOTSE_PAYEE_* is set
        FileManager.default.createFile(atPath: config.dataDir + "/demo-mode", contents: Data("demo\n".utf8))
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
        let out = config.dataDir + "/qr"
        let batch = QRBatch(store: store, tokens: try common.tokens(config), baseURL: config.publicBaseURL)
        let r = try batch.write(caseNumbers: [], outDir: out, format: .svg)
        _ = try batch.write(caseNumbers: r.caseNumbers, outDir: out + "-png", format: .png)
        print("wrote \(r.written) QR codes to \(out)/ as SVG and to \(out)-png/ as PNG (manifest \(r.manifest))")
        let tokens = try common.tokens(config)
        let shown = try store.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, case_number, status FROM cases WHERE id IN
                  (SELECT min(id) FROM cases WHERE status = 'open' UNION SELECT min(id) FROM cases WHERE status = 'paid')
                ORDER BY status
                """).map { ($0["id"] as Int64, $0["case_number"] as String, $0["status"] as String) }
        }
        for (id, number, status) in shown {
            print("case page of \(number) (\(status)): \(config.publicBaseURL)/T/\(tokens.token(caseID: id))")
        }
    }
}
