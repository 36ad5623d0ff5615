import Foundation
import LotseBank
import LotseCore
import LotseImport
import LotseStorage
import LotseTokens

/// The inputs Lotse takes from outside, each driven through the real code path with invariants that
/// must hold for any bytes. libFuzzer calls them through `lotse-fuzz` (`make fuzz`); the corpus tests
/// run every saved input through them in CI.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// A handheld export as `lotse import` reads it (format detected from the content, so the CSV
    /// target reaches the XML readers too; the seeds steer each target to its format).
    case csv, winowig, xowi
    /// A bank statement as `lotse reconcile` reads it.
    case camt
    /// A token from a URL.
    case token
    /// A form body.
    case form
    /// A photo of a motorist's statement, stripped of its metadata (JPEG and PNG).
    case image
    /// An upload of a handheld export with the warden's photos (a ZIP file), imported as `lotse import` does.
    case zip
}

/// An invariant that did not hold: the fuzzer stops on it like on a crash.
public struct FuzzFinding: Error, CustomStringConvertible {
    public var description: String
}

/// One data directory with a database, reused for every input of a run (imports add up, as in a pilot).
public final class FuzzContext {
    let dir: String
    let store: Store
    let importer: Importer
    let reconciler: Reconciler
    let tokens: CaseTokens
    let input: String
    var sequence = 0

    /// - Parameter catalogue: the offence catalogue (`pilot-data/tbnr-parking.csv`).
    public init(catalogue: String) throws {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        dir = base + "/lotse-fuzz-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var config = try LotseConfig(environment: [:])
        config.dataDir = dir
        store = try Store(path: config.databasePath)
        importer = Importer(store: store, config: config, catalogue: try Catalogue(contentsOf: catalogue))
        reconciler = Reconciler(store: store)
        tokens = CaseTokens(ring: try KeyRing.loadOrCreate(dataDir: dir))
        input = dir + "/input"
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    /// Runs one input; throws a `FuzzFinding` when an invariant breaks.
    public func run(_ target: FuzzTarget, _ data: [UInt8]) throws {
        switch target {
        case .csv, .winowig, .xowi, .zip: try importTwice(data)
        case .camt: try reconcileTwice(data)
        case .token: try verifyToken(data)
        case .form: try decodeForm(data)
        case .image: try stripImage(data)
        }
    }

    /// Every file ends in a summary or one clear error line; a second import of the same file adds nothing
    /// and sees every ticket of the first as a duplicate: nothing valid is lost or doubled.
    func importTwice(_ data: [UInt8]) throws {
        let path = try write(data)
        let first: ImportSummary
        do {
            first = try importer.importFile(path, displayName: "input.csv")
        } catch {
            try checkErrorLine(error)
            return
        }
        let second = try importer.importFile(path, displayName: "input.csv")
        guard second.imported == 0, second.duplicates == first.imported + first.duplicates, second.rejected == first.rejected else {
            throw FuzzFinding(description: "import is not idempotent: \(first.line) then \(second.line)")
        }
    }

    /// A statement either reconciles or ends in one error line; the same file again books nothing.
    func reconcileTwice(_ data: [UInt8]) throws {
        let path = try write(data)
        let first: ReconcileSummary
        do {
            first = try reconciler.reconcile(path, displayName: "input.xml")
        } catch {
            try checkErrorLine(error)
            return
        }
        let second = try reconciler.reconcile(path, displayName: "input.xml")
        guard second.matched == 0, second.paid == 0, second.partial == 0, second.refunds == 0, second.unmatched == 0 else {
            throw FuzzFinding(description: "a statement imported twice booked again: \(first.line) then \(second.line)")
        }
    }

    /// Only a token Lotse made verifies, and it names the case it was made for.
    func verifyToken(_ data: [UInt8]) throws {
        let text = String(decoding: data, as: UTF8.self)
        guard let caseID = tokens.verify(text) else { return }
        guard tokens.token(caseID: caseID) == text.uppercased() else {
            throw FuzzFinding(description: "a token verified that Lotse did not make: \(text)")
        }
    }

    /// Any body decodes; a decoded value is the same when its pair is encoded and decoded again.
    func decodeForm(_ data: [UInt8]) throws {
        let fields = FormDecoding.decode(String(decoding: data, as: UTF8.self))
        for (key, value) in fields {
            let again = FormDecoding.decode(Self.encode(key) + "=" + Self.encode(value))
            guard again[key] == value else {
                throw FuzzFinding(description: "form pair does not round-trip: \(key.debugDescription)")
            }
        }
    }

    /// Stripping never grows a file, and a stripped file strips to itself (nothing left to remove, the picture kept).
    func stripImage(_ data: [UInt8]) throws {
        for (name, strip) in [("JPEG", ImageMetadata.strippedJPEG), ("PNG", ImageMetadata.strippedPNG)] {
            guard let once = strip(data) else { continue }
            guard once.count <= data.count else { throw FuzzFinding(description: "\(name): stripping made the file larger") }
            guard strip(once) == once else { throw FuzzFinding(description: "\(name): stripping twice differs from once") }
        }
    }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    /// The contract of every failed command: one line, in words, no parser internals.
    func checkErrorLine(_ error: any Error) throws {
        guard let lotseError = error as? LotseError else {
            throw FuzzFinding(description: "not a LotseError: \(error)")
        }
        let message = lotseError.description
        guard !message.contains("\n"), !message.contains("ErrorDomain"), message.count <= 500 else {
            throw FuzzFinding(description: "error is not one clear line: \(message.debugDescription)")
        }
    }

    func write(_ data: [UInt8]) throws -> String {
        sequence += 1
        let path = input + "-\(sequence % 2)"
        guard FileManager.default.createFile(atPath: path, contents: Data(data)) else {
            throw FuzzFinding(description: "cannot write \(path)")
        }
        return path
    }
}
