import Foundation
import LotseCore
import LotseTestSupport
import Testing

/// `LOTSE_QR_WORKERS` is read once into the configuration; a value that is not a positive number means one thread per
/// core. (A `0` used to divide by zero inside `lotse qr` and kill it with SIGILL.)
@Suite struct QRWorkersCLITests {
    @Test(arguments: ["0", "-3", "seven", "1", "3"])
    func anyWorkerSettingWritesEveryCode(_ workers: String) throws {
        let dir = TestSupport.tempDir("lotse-cli-qr-workers")
        _ = try TestSupport.lotse(["import", TestSupport.pilotData + "/samples/xowi-2026-03-16.xml"], dataDir: dir)
        let out = try TestSupport.lotse(["qr", "--new", "--out", dir + "/qr"], dataDir: dir, env: ["LOTSE_QR_WORKERS": workers])
        #expect(out.status == 0, "LOTSE_QR_WORKERS=\(workers): \(out.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/qr").filter { $0.hasSuffix(".svg") }
        #expect(files.count == 12, "LOTSE_QR_WORKERS=\(workers)")
    }

    @Test func theSettingIsReadIntoTheConfiguration() {
        #expect(LotseConfig(environment: ["LOTSE_QR_WORKERS": "3"]).qrWorkers == 3)
        #expect(LotseConfig(environment: ["LOTSE_QR_WORKERS": "0"]).qrWorkers == nil)
        #expect(LotseConfig(environment: ["LOTSE_QR_WORKERS": "-2"]).qrWorkers == nil)
        #expect(LotseConfig(environment: ["LOTSE_QR_WORKERS": "seven"]).qrWorkers == nil)
        #expect(LotseConfig(environment: [:]).qrWorkers == nil)
    }
}
