import Foundation
import LotseCore
import LotseQR
import LotseStorage
import LotseTokens
import Synchronization

/// Writes printable QR codes for cases, and `manifest.csv` (`case_number;ticket_no;url;file`).
public struct QRBatch: Sendable {
    public enum Format: String, Sendable { case svg, png }

    public struct Result: Sendable {
        public var written: Int
        public var manifest: String
        public var maxVersion: Int
        public var caseNumbers: [String]
    }

    public let store: Store
    public let tokens: CaseTokens
    public let baseURL: String
    /// Threads that encode and write the codes (at least 1).
    public let workers: Int

    /// - Parameter workers: threads for encoding (`LotseConfig.qrWorkers`); nil: one per core.
    public init(store: Store, tokens: CaseTokens, baseURL: String, workers: Int? = nil) {
        self.store = store
        self.tokens = tokens
        self.baseURL = baseURL
        self.workers = max(1, workers ?? ProcessInfo.processInfo.activeProcessorCount)
    }

    /// `caseNumbers` empty: every case whose code has not been written yet (with `all`, every case).
    public func write(caseNumbers: [String], all: Bool = false, outDir: String, format: Format, moduleSize: Int? = nil) throws -> Result {
        let items = caseNumbers.isEmpty ? try store.casesForQR(printedToo: all) : try store.caseLabels(numbers: caseNumbers)
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        let ext = format.rawValue
        let urls = items.map { CaseTokens.url(base: baseURL, token: tokens.token(caseID: $0.id)) }

        // Encode and write in parallel: libqrencode is re-entrant, each code goes to its own file.
        let workers = self.workers
        let chunk = max(1, (items.count + workers * 8 - 1) / (workers * 8))
        let chunks = (items.count + chunk - 1) / chunk
        let failures = Failures()
        urls.withUnsafeBufferPointer { urlBuf in
            nonisolated(unsafe) let urlBuf = urlBuf
            let body: @Sendable (Int) -> Void = { c in
                var maxV = 0
                for i in (c * chunk)..<min(items.count, (c + 1) * chunk) {
                    do {
                        let code = try QRCode(urlBuf[i], level: .M)
                        maxV = max(maxV, code.version)
                        let bytes = format == .svg ? code.svg(moduleSize: moduleSize ?? 4) : code.png(moduleSize: moduleSize ?? 8)
                        let path = outDir + "/" + items[i].caseNumber + "." + ext
                        guard Self.writeFile(path, bytes) else { throw LotseError.io("\(path): cannot write") }
                    } catch {
                        failures.add(error)
                    }
                }
                failures.version(maxV)
            }
            if workers == 1 { (0..<chunks).forEach(body) } else { DispatchQueue.concurrentPerform(iterations: chunks, execute: body) }
        }
        if let e = failures.first { throw e }

        var manifest = Array("case_number;ticket_no;url;file\n".utf8)
        for (i, item) in items.enumerated() {
            CSVWriter.appendRow(&manifest, [item.caseNumber, item.ticketNo ?? "", urls[i], item.caseNumber + "." + ext])
        }
        let manifestPath = outDir + "/manifest.csv"
        guard Self.writeFile(manifestPath, manifest) else { throw LotseError.io("\(manifestPath): cannot write") }

        let now = Int64(Date().timeIntervalSince1970)
        try store.markQRWritten(caseIDs: items.map(\.id), at: now)
        return Result(
            written: items.count,
            manifest: manifestPath,
            maxVersion: failures.maxVersion,
            caseNumbers: items.map(\.caseNumber)
        )
    }

    static func writeFile(_ path: String, _ bytes: [UInt8]) -> Bool {
        guard let f = fopen(path, "wb") else { return false }
        let n = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, bytes.count, f) }
        return fclose(f) == 0 && n == bytes.count
    }
}

/// What the encoding threads report: their errors and the largest QR version they wrote.
final class Failures: Sendable {
    private struct State {
        var errors: [Error] = []
        var maxVersion = 0
    }

    private let state = Mutex(State())

    func add(_ error: Error) { state.withLock { $0.errors.append(error) } }
    func version(_ version: Int) { state.withLock { $0.maxVersion = max($0.maxVersion, version) } }
    var first: Error? { state.withLock { $0.errors.first } }
    var maxVersion: Int { state.withLock { $0.maxVersion } }
}
