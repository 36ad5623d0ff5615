import ArgumentParser
import Foundation
import LotseCore
import LotseImport

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import handheld exports (Lotse CSV, WiNOWiG MDE XML, xOWi XML; detected from content).")

    @OptionGroup var common: CommonOptions
    @Argument(help: "Export files.") var files: [String]

    func run() throws {
        let config = common.config()
        let importer = Importer(store: try common.store(config), config: config, catalogue: try common.catalogue(config))
        var failed: LotseError?
        for file in files {
            do {
                let s = try importer.importFile(file)
                print(s.line)
                if let r = s.rejectsFile { print("\(file): rejected rows written to \(r)") }
            } catch let e as LotseError {
                // Other files still import; the command ends with this error.
                FileHandle.standardError.write(Data(("lotse: " + e.description + "\n").utf8))
                failed = e
            }
        }
        if failed != nil { throw ExitCode(1) }
    }
}
