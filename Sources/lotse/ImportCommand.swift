import ArgumentParser
import Foundation
import LotseCore
import LotseImport

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import handheld exports (Lotse CSV, WiNOWiG MDE XML, xOWi XML; detected from content).",
        discussion: """
            Photos the export names (CSV column photos, WiNOWiG Bild/@Dateiname) are read from the export's folder; a ZIP file \
            holding one export and its photos imports as one upload.
            """
    )

    @OptionGroup var common: CommonOptions
    @Argument(help: "Export files.") var files: [String]

    func run() throws {
        let config = try common.config()
        let importer = Importer(store: try common.store(config), config: config, catalogue: try common.catalogue(config))
        // Other files still import; the command ends with status 1.
        try eachFile(files) { file in
            let folder = (file as NSString).deletingLastPathComponent
            let s = try importer.importFile(file, photoFolder: folder.isEmpty ? "." : folder)
            print(s.line + (s.photos > 0 ? ", photos \(s.photos)" : ""))
            for warning in s.warnings { printErr(warning) }
            if let r = s.rejectsFile { print("\(file): rejected rows written to \(r)") }
        }
    }
}
