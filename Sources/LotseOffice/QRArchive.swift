import Foundation
import LotseCore
import LotseStorage
import LotseTokens
import ZIPFoundation

/// The codes of a QR batch as one ZIP file (the console's download): the codes of new cases, or of the cases whose
/// ticket had no code printed (for letters), with the batch's manifest.
public enum QRArchive {
    public enum Selection: String, Sendable {
        /// Cases whose code has not been written yet.
        case new
        /// Payable cases whose ticket had no code printed: their code goes out by letter.
        case letters
    }

    /// Writes the codes into a private folder of `dataDir`, zips it and removes the folder. Returns the ZIP's path
    /// (the caller removes it once sent) and how many codes it holds.
    public static func make(
        store: Store,
        tokens: CaseTokens,
        baseURL: String,
        dataDir: String,
        selection: Selection,
        format: QRBatch.Format
    ) throws -> (path: String, count: Int) {
        let stamp = String(Int(Date().timeIntervalSince1970 * 1000)) + "-" + String(getpid())
        let work = dataDir + "/qr-downloads/" + stamp
        defer { try? FileManager.default.removeItem(atPath: work) }
        let batch = QRBatch(store: store, tokens: tokens, baseURL: baseURL)
        let numbers = selection == .letters ? try store.letterCaseNumbers() : []
        if selection == .letters && numbers.isEmpty {
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        }
        let written = selection == .letters && numbers.isEmpty ? 0 : try batch.write(caseNumbers: numbers, outDir: work, format: format).written
        let zip = dataDir + "/qr-downloads/" + stamp + ".zip"
        try FileManager.default.zipItem(at: URL(fileURLWithPath: work), to: URL(fileURLWithPath: zip), shouldKeepParent: false)
        return (zip, written)
    }
}
