import ArgumentParser
import Foundation
import LotseCore
import LotseOffice

struct QRCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qr",
        abstract: "Write QR codes (SVG or PNG) for the given cases, or for all not yet printed, plus manifest.csv."
    )

    @OptionGroup var common: CommonOptions
    @Argument(help: "Case numbers (default: all cases whose code was not written yet).") var cases: [String] = []
    @Flag(name: .customLong("new"), help: "All cases whose code was not written yet.") var onlyNew = false
    @Flag(name: .customLong("all"), help: "Every case (reprint).") var all = false
    @Option(name: .customLong("out"), help: "Output directory.") var out: String
    @Option(name: .customLong("format"), help: "svg or png.") var format: String = "svg"
    @Option(name: .customLong("module-size"), help: "Pixels (PNG) or user units (SVG) per module.") var moduleSize: Int?

    func validate() throws {
        guard QRBatch.Format(rawValue: format) != nil else { throw ValidationError("--format must be svg or png") }
        if (onlyNew || all) && !cases.isEmpty { throw ValidationError("give case numbers or --new/--all, not both") }
        if onlyNew && all { throw ValidationError("give --new or --all, not both") }
        if let m = moduleSize, m < 1 || m > 64 { throw ValidationError("--module-size must be 1 to 64") }
    }

    func run() throws {
        let config = try common.config()
        let batch = QRBatch(
            store: try common.store(config),
            tokens: try common.tokens(config),
            baseURL: config.publicBaseURL,
            workers: config.qrWorkers
        )
        let r = try batch.write(caseNumbers: cases, all: all, outDir: out, format: QRBatch.Format(rawValue: format)!, moduleSize: moduleSize)
        print("wrote \(r.written) QR code\(r.written == 1 ? "" : "s") to \(out), manifest \(r.manifest)")
    }
}
