import Foundation
import LotseCore
import LotseTestSupport
import Testing

/// `LOTSE_QR_WORKERS` is read once into the configuration. A positive whole number is the number of threads; unset means
/// one thread per core; anything else ends the command with the usage status before it does any work. (A `0` used to
/// divide by zero inside `lotse qr` and kill it with SIGILL; later `seven` silently meant one per core.)
@Suite struct QRWorkersCLITests {
    @Test(arguments: [nil, "1", "3"] as [String?])
    func aValidWorkerSettingWritesEveryCode(_ workers: String?) throws {
        let dir = TestSupport.tempDir("lotse-cli-qr-workers")
        _ = try TestSupport.lotse(["import", TestSupport.pilotData + "/samples/xowi-2026-03-16.xml"], dataDir: dir)
        let out = try TestSupport.lotse(["qr", "--new", "--out", dir + "/qr"], dataDir: dir, env: workers.map { ["LOTSE_QR_WORKERS": $0] } ?? [:])
        #expect(out.status == 0, "LOTSE_QR_WORKERS=\(workers ?? "unset"): \(out.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/qr").filter { $0.hasSuffix(".svg") }
        #expect(files.count == 12, "LOTSE_QR_WORKERS=\(workers ?? "unset")")
    }

    @Test(arguments: ["0", "-3", "seven", "7x", "", "2.5"])
    func anInvalidWorkerSettingIsAUsageErrorNamingIt(_ workers: String) throws {
        let dir = TestSupport.tempDir("lotse-cli-qr-workers")
        _ = try TestSupport.lotse(["import", TestSupport.pilotData + "/samples/xowi-2026-03-16.xml"], dataDir: dir)
        let out = try TestSupport.lotse(["qr", "--new", "--out", dir + "/qr"], dataDir: dir, env: ["LOTSE_QR_WORKERS": workers])
        #expect(out.status == 2, "LOTSE_QR_WORKERS=\(workers): \(out.stderr)")
        let lines = out.stderr.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
        #expect(lines.count == 1, "\(out.stderr)")
        #expect(out.stderr.hasPrefix("lotse: LOTSE_QR_WORKERS=\"\(workers)\" is not valid"), "\(out.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/qr"), "nothing is written")
    }

    @Test func theSettingIsReadIntoTheConfiguration() throws {
        #expect(try LotseConfig(environment: ["LOTSE_QR_WORKERS": "3"]).qrWorkers == 3)
        #expect(try LotseConfig(environment: [:]).qrWorkers == nil)
        for bad in ["0", "-2", "seven", " "] {
            #expect(throws: ConfigError.self, "\(bad)") { try LotseConfig(environment: ["LOTSE_QR_WORKERS": bad]) }
        }
    }
}
