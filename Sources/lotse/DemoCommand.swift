import ArgumentParser
import Foundation
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
        for f in files where !f.hasPrefix(".") {
            let s = try importer.importFile(samples + "/" + f, displayName: "pilot-data/samples/" + f)
            print(s.line)
            if let r = s.rejectsFile { print("  rejected rows written to \(r)") }
        }
        let out = config.dataDir + "/qr"
        let batch = QRBatch(store: store, tokens: try common.tokens(config), baseURL: config.publicBaseURL)
        let r = try batch.write(caseNumbers: [], outDir: out, format: .svg)
        _ = try batch.write(caseNumbers: r.caseNumbers, outDir: out + "-png", format: .png)
        print("wrote \(r.written) QR codes to \(out)/ as SVG and to \(out)-png/ as PNG (manifest \(r.manifest))")
        if let first = r.caseNumbers.first {
            let token = try common.tokens(config).token(caseID: try store.read { try CaseQueries.byNumber($0, first)!.id })
            print("case page of \(first): \(config.publicBaseURL)/T/\(token)")
        }
    }
}
