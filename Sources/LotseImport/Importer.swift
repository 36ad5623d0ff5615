import Foundation
import LotseCore
import LotseStorage

/// The formats of handheld exports, told apart by content, never by file name.
public enum ExportFormat: String, Sendable {
    case csv = "lotse-csv"
    case winowig = "winowig-mde"
    case xowi = "xowi"

    /// Detects the format from the first bytes of a file.
    public static func detect(path: String) throws -> ExportFormat {
        var head = try ByteReader.head(path: path, count: 64 * 1024)
        if head.starts(with: [0xEF, 0xBB, 0xBF]) { head.removeFirst(3) }
        if head.starts(with: [0xFF, 0xFE]) || head.starts(with: [0xFE, 0xFF]) {
            throw LotseError.input("\(path):1: the file is UTF-16; handheld exports are read as UTF-8 (or Windows-1252 for CSV)")
        }
        if head.isEmpty || head.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 10 || $0 == 13 }) {
            throw LotseError.input("\(path): the file is empty")
        }
        if head.contains(0) {
            throw LotseError.input("\(path):1: unknown format: binary data, not a handheld export")
        }
        guard let firstNonSpace = head.firstIndex(where: { !($0 == 32 || $0 == 9 || $0 == 10 || $0 == 13) }) else {
            throw LotseError.input("\(path): the file is empty")
        }
        if head[firstNonSpace] == UInt8(ascii: "<") {
            let text = String(decoding: head, as: UTF8.self)
            guard let root = rootElement(text) else {
                throw LotseError.input("\(path):1: unknown format: XML without a root element")
            }
            switch root {
            case "OWIGMDEData": return .winowig
            case "Datenstrom": return .xowi
            default:
                throw LotseError.input(
                    "\(path):1: unknown format: XML root element '\(XMLStream.shown(root, limit: 40))' is neither OWIGMDEData nor Datenstrom"
                )
            }
        }
        let firstLine = head.prefix { $0 != 10 }
        let line = firstLine.withUnsafeBufferPointer { TextDecoding.decode($0) }.lowercased()
        if line.contains(";") && line.contains("ticket_no") { return .csv }
        if line.contains(";") {
            // a `;` file whose header lacks ticket_no: the CSV reader names the missing columns
            if line.contains("tbnr") || line.contains("plate") || line.contains("issued_at") { return .csv }
        }
        throw LotseError.input("\(path):1: unknown format: neither Lotse CSV (a ';' header with ticket_no), WiNOWiG MDE XML nor xOWi XML")
    }

    /// The local name of the first element, skipping the XML declaration, comments and DOCTYPE.
    static func rootElement(_ text: String) -> String? {
        var s = Substring(text)
        while let lt = s.firstIndex(of: "<") {
            s = s[s.index(after: lt)...]
            if s.hasPrefix("?") || s.hasPrefix("!") {
                if s.hasPrefix("!--"), let end = s.range(of: "-->") {
                    s = s[end.upperBound...]
                    continue
                }
                if let gt = s.firstIndex(of: ">") {
                    s = s[s.index(after: gt)...]
                    continue
                }
                return nil
            }
            let name = s.prefix { !($0 == " " || $0 == ">" || $0 == "/" || $0 == "\n" || $0 == "\r" || $0 == "\t") }
            if name.isEmpty { return nil }
            if let colon = name.lastIndex(of: ":") { return String(name[name.index(after: colon)...]) }
            return String(name)
        }
        return nil
    }
}

/// What importing one file did.
public struct ImportSummary: Sendable, Codable, Equatable {
    public var file: String
    public var format: String
    public var imported: Int
    public var duplicates: Int
    public var rejected: Int
    public var rejectsFile: String?
    /// The warden's photos stored with the imported tickets.
    public var photos = 0
    /// Photos left out (missing, not a picture, too large), one line each naming the file and the line.
    public var warnings: [String] = []

    public init(file: String, format: String, imported: Int, duplicates: Int, rejected: Int, rejectsFile: String? = nil) {
        self.file = file
        self.format = format
        self.imported = imported
        self.duplicates = duplicates
        self.rejected = rejected
        self.rejectsFile = rejectsFile
    }

    /// The spec's summary line.
    public var line: String { "\(file): imported \(imported), duplicates \(duplicates), rejected \(rejected)" }

    enum CodingKeys: String, CodingKey {
        case file, format, imported, duplicates, rejected, photos, warnings
        case rejectsFile = "rejects_file"
    }
}

/// Writes rejected records (line, reason, raw row) as `;`-CSV through `CSVWriter`; created on the first reject.
/// The rows go to `<path>.<pid>.part` and get the final name only once the import has committed, so a
/// `kill -9` never leaves a rejects file for an import that did not happen; the next import removes a part
/// file whose process is gone.
final class RejectsWriter {
    /// Runs when the import rolls back (the photos it stored go too).
    var onRollback: () -> Void = {}
    let path: String
    let partPath: String
    private var handle: FileHandle?
    private var buffer = [UInt8]()

    init(path: String) {
        self.path = path
        self.partPath = path + ".\(getpid()).part"
    }

    /// The rejects file of importing `file` at `now`: `<dataDir>/rejects/<file name>.<UTC stamp>.rejects.csv`.
    convenience init(dataDir: String, file: String, now: Int64) {
        let stamp = BerlinTime.isoUTC(now).filter { $0.isNumber || $0 == "T" }
        self.init(path: dataDir + "/rejects/\((file as NSString).lastPathComponent).\(stamp).rejects.csv")
        Self.removeOrphans(in: dataDir + "/rejects")
    }

    /// Removes the part files of imports whose process no longer runs (killed before they committed).
    static func removeOrphans(in dir: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for name in names where name.hasSuffix(".part") {
            let pidText = name.dropLast(5).split(separator: ".").last.map(String.init) ?? ""
            guard let pid = Int32(pidText), pid > 0 else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(atPath: dir + "/" + name)
            }
        }
    }

    func write(line: Int, reason: String, raw: String) throws {
        if handle == nil {
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent,
                withIntermediateDirectories: true
            )
            guard FileManager.default.createFile(atPath: partPath, contents: Data("line;reason;raw\n".utf8)),
                let h = FileHandle(forWritingAtPath: partPath)
            else {
                throw LotseError.io("\(path): cannot write the rejects file")
            }
            h.seekToEndOfFile()
            handle = h
            used = true
        }
        CSVWriter.appendRow(&buffer, [String(line), reason, Self.cut(raw)])
        if buffer.count > 1 << 16 { flush() }
    }

    /// The raw record as kept in the rejects file: at most 2,048 characters (an XML record may carry
    /// 256 attributes of 64 KiB each; none of that is stored).
    static func cut(_ raw: String) -> String {
        let limit = 2048
        guard raw.utf8.count > limit, raw.count > limit else { return raw }
        return String(raw.prefix(limit)) + " [cut]"
    }

    func flush() {
        if let h = handle, !buffer.isEmpty {
            h.write(Data(buffer))
            buffer.removeAll(keepingCapacity: true)
        }
    }

    /// Whether the file was created (it stays true after `close`).
    private(set) var used = false

    func close() {
        flush()
        try? handle?.close()
        handle = nil
    }

    /// After a failed import (the transaction rolled back): the rejects file goes too.
    func discard() {
        close()
        if used { try? FileManager.default.removeItem(atPath: partPath) }
    }

    /// After the import committed: the part file gets its final name.
    func publish() throws {
        close()
        guard used else { return }
        do {
            try? FileManager.default.removeItem(atPath: path)
            try FileManager.default.moveItem(atPath: partPath, toPath: path)
        } catch {
            throw LotseError.io("\(path): the import committed, but its rejects file stayed at \(partPath)")
        }
    }

    /// Runs an import of `file` in one immediate transaction, committed when `body` returns. If anything
    /// fails, the transaction rolls back and the rejects file goes too (it would describe an import that
    /// did not happen); a database error becomes the one-line error naming the file.
    func importing(_ store: Store, file: String, _ body: (ImportTransaction) throws -> Void) throws {
        do {
            try store.importTransaction(file: file, body)
        } catch {
            discard()
            onRollback()
            throw error
        }
        try publish()
    }
}

/// Imports handheld exports: each file in one transaction (a crash leaves the database as it was
/// before that file), duplicates by source id, rejects with line and reason.
public struct Importer: Sendable {
    public let store: Store
    public let config: LotseConfig
    public let catalogue: Catalogue

    public init(store: Store, config: LotseConfig, catalogue: Catalogue) {
        self.store = store
        self.config = config
        self.catalogue = catalogue
    }

    /// `progress`: told how many records were read so far, now and then (for a progress display). `photoFolder`: where
    /// the files an export names as photos are (the CLI passes the export's folder; a ZIP upload brings its own).
    public func importFile(
        _ path: String,
        displayName: String? = nil,
        photoFolder: String? = nil,
        now: Int64 = Int64(Date().timeIntervalSince1970),
        progress: (@Sendable (Int) -> Void)? = nil
    ) throws -> ImportSummary {
        let name = displayName ?? path
        if try ZipUpload.isZip(path: path) {
            return try ZipUpload.unpacked(path, name: name, dataDir: config.dataDir) { export, exportName, folder in
                try importFile(export, displayName: exportName, photoFolder: folder, now: now, progress: progress)
            }
        }
        let format = try ExportFormat.detect(path: path)
        guard CaseNumber.isValidPrefix(config.caseNumberPrefix) else {
            throw LotseError.usage("LOTSE_CASE_PREFIX '\(config.caseNumberPrefix)' must be 1 to 6 letters or digits")
        }
        let rejects = RejectsWriter(dataDir: config.dataDir, file: name, now: now)
        defer { rejects.close() }
        let validator = RecordValidator(validator: TicketValidator(catalogue: catalogue), now: now)
        let photos = PhotoIntake(folder: photoFolder, evidenceDirectory: config.evidenceDirectory, name: name)
        // the photos stored go again if the import rolls back (not if it committed and only its rejects file failed)
        var summary = try importing(path, name: name, format: format, rejects: rejects, validator: validator, photos: photos, progress: progress)
        summary.photos = photos.written.count
        summary.warnings = photos.warnings
        return summary
    }

    private func importing(
        _ path: String,
        name: String,
        format: ExportFormat,
        rejects: RejectsWriter,
        validator: RecordValidator,
        photos: PhotoIntake,
        progress: (@Sendable (Int) -> Void)?
    ) throws -> ImportSummary {
        var summary = ImportSummary(file: name, format: format.rawValue, imported: 0, duplicates: 0, rejected: 0)
        let config = self.config
        let catalogue = self.catalogue
        let now = validator.now
        rejects.onRollback = { photos.discard() }
        try rejects.importing(store, file: name) { transaction in
            let writer = try transaction.caseWriter(
                fileName: name,
                format: format.rawValue,
                catalogue: catalogue,
                prefix: config.caseNumberPrefix,
                paymentDays: config.paymentDays,
                now: now
            )
            var read = 0
            func add(_ ticket: Ticket, line: Int) throws {
                let result = try writer.add(ticket)
                switch result {
                case .inserted: summary.imported += 1
                case .duplicate: summary.duplicates += 1
                }
                // the photos come with the ticket; an export sent again (in a ZIP with its photos) adds them to a case that
                // has none
                guard !ticket.photos.isEmpty else { return }
                if result == .duplicate, try transaction.photoCount(sourceID: ticket.sourceID) != 0 { return }
                try transaction.attachPhotos(sourceID: ticket.sourceID, try photos.store(ticket.photos, line: line))
            }
            func handle(_ raw: RawTicket, line: Int, rejected: String?, rawText: @autoclosure () -> String) throws {
                read += 1
                if read % 1000 == 0 { progress?(read) }
                if let reason = rejected {
                    summary.rejected += 1
                    try rejects.write(line: line, reason: reason, raw: rawText())
                    return
                }
                switch validator.validate(raw) {
                case .valid(let ticket):
                    try add(ticket, line: line)
                case .rejected(let reason):
                    summary.rejected += 1
                    try rejects.write(line: line, reason: reason, raw: rawText())
                }
            }
            switch format {
            case .csv:
                try CSVPipeline.run(path: path, name: name, validator: validator) { batch in
                    read += batch.count
                    progress?(read)
                    for row in batch {
                        switch row {
                        case .valid(let ticket, let line):
                            try add(ticket, line: line)
                        case .rejected(let line, let reason, let raw):
                            summary.rejected += 1
                            try rejects.write(line: line, reason: reason, raw: raw)
                        case .failed(let error):
                            throw error
                        }
                    }
                }
            case .winowig, .xowi:
                let parser = XMLRecordParser(kind: format == .winowig ? .winowig : .xowi, path: path) { rec in
                    try handle(rec.raw, line: rec.line, rejected: rec.rejected, rawText: "record \(rec.number): \(rec.summary)")
                }
                try parser.run()
            }
            rejects.flush()
            summary.rejectsFile = rejects.used ? rejects.path : nil
            try writer.finish(
                imported: summary.imported,
                duplicates: summary.duplicates,
                rejected: summary.rejected,
                rejectsFile: summary.rejectsFile
            )
        }
        return summary
    }
}
