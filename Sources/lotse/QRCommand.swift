import ArgumentParser
import Foundation
import LotseCore
import LotseOffice

struct QRCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qr",
        abstract: "Write QR codes (SVG or PNG) for the given cases, or for all not yet printed, or for ticket stock, plus manifest.csv."
    )

    @OptionGroup var common: CommonOptions
    @Argument(help: "Case numbers (default: all cases whose code was not written yet).") var cases: [String] = []
    @Flag(name: .customLong("new"), help: "All cases whose code was not written yet.") var onlyNew = false
    @Flag(name: .customLong("all"), help: "Every case (reprint).") var all = false
    @Option(name: .customLong("out"), help: "Output directory.") var out: String
    @Option(name: .customLong("format"), help: "svg or png.") var format: String = "svg"
    @Option(name: .customLong("module-size"), help: "Pixels (PNG) or user units (SVG) per module.") var moduleSize: Int?
    @Option(name: .customLong("stock"), help: "Codes for ticket stock of this enrolled device (with --from and --count).") var stock: String?
    @Option(name: .customLong("from"), help: "With --stock: the first ticket number.") var from: UInt32?
    @Option(name: .customLong("count"), help: "With --stock: how many ticket numbers.") var count: Int?

    func validate() throws {
        guard QRBatch.Format(rawValue: format) != nil else { throw ValidationError("--format must be svg or png") }
        if (onlyNew || all) && !cases.isEmpty { throw ValidationError("give case numbers or --new/--all, not both") }
        if onlyNew && all { throw ValidationError("give --new or --all, not both") }
        if let m = moduleSize, m < 1 || m > 64 { throw ValidationError("--module-size must be 1 to 64") }
        if stock != nil {
            if !cases.isEmpty || onlyNew || all { throw ValidationError("--stock takes no case numbers, --new or --all") }
            guard from != nil, let count else { throw ValidationError("--stock needs --from and --count") }
            guard (1...StockCodes.maxCount).contains(count) else { throw ValidationError("--count must be 1 to \(StockCodes.maxCount)") }
        } else if from != nil || count != nil {
            throw ValidationError("--from and --count go with --stock")
        }
    }

    func run() throws {
        let config = try common.config()
        if let stock, let from, let count {
            let codes = StockCodes(store: try common.store(config), tokens: try common.tokens(config), baseURL: config.publicBaseURL)
            let r = try codes.write(
                deviceID: stock,
                from: from,
                count: count,
                outDir: out,
                format: QRBatch.Format(rawValue: format)!,
                moduleSize: moduleSize
            )
            print("wrote \(r.written) stock code\(r.written == 1 ? "" : "s") of \(stock) to \(out), manifest \(r.manifest)")
            return
        }
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
