import Foundation
import LotseTestSupport
import Testing

/// The configuration is read and validated once, before any command runs: a setting that does not parse ends the
/// command with the usage status 2 and one line on stderr naming the variable and the value, and nothing is done.
@Suite struct ConfigCLITests {
    func singleLine(_ text: String) -> Bool {
        text.hasSuffix("\n") && text.dropLast().firstIndex(of: "\n") == nil
    }

    @Test func paymentDaysSevenIsAUsageErrorAndNothingIsImported() throws {
        let dir = TestSupport.tempDir("lotse-cli-config")
        let out = try TestSupport.lotse(
            ["import", TestSupport.pilotData + "/samples/xowi-2026-03-16.xml"],
            dataDir: dir,
            env: ["LOTSE_PAYMENT_DAYS": "seven"]
        )
        #expect(out.status == 2)
        #expect(singleLine(out.stderr), "\(out.stderr)")
        #expect(out.stderr.hasPrefix("lotse: LOTSE_PAYMENT_DAYS=\"seven\" is not valid: expected a whole number of days"), "\(out.stderr)")
        #expect(out.stdout.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: dir + "/lotse.sqlite"), "no database is created")
        // the same import with a valid setting works
        let good = try TestSupport.lotse(
            ["import", TestSupport.pilotData + "/samples/xowi-2026-03-16.xml"],
            dataDir: dir,
            env: ["LOTSE_PAYMENT_DAYS": "7"]
        )
        #expect(good.status == 0, "\(good.stderr)")
    }

    @Test(arguments: [
        ("LOTSE_PAYMENT_DAYS", "-3"), ("LOTSE_PAYMENT_DAYS", "7x"), ("LOTSE_PAYMENT_DAYS", ""), ("LOTSE_GRACE_DAYS", "five"),
        ("LOTSE_PAYPAL_TIMEOUT", "20s"), ("LOTSE_PAYMENT_SWEEP_SECONDS", "0"), ("LOTSE_PAYMENT_SWEEP_AGE", "1.5"), ("LOTSE_VIEW_FLUSH_SECONDS", "0"),
        ("LOTSE_IDLE_TIMEOUT", "inf"), ("LOTSE_READ_TIMEOUT", "-1"), ("LOTSE_DEMO", "yes"),
    ])
    func everyNumberAndSwitchIsStrict(_ variable: String, _ value: String) throws {
        let dir = TestSupport.tempDir("lotse-cli-config")
        let out = try TestSupport.lotse(["keys", "list"], dataDir: dir, env: [variable: value])
        #expect(out.status == 2, "\(variable)=\(value)")
        #expect(singleLine(out.stderr), "\(out.stderr)")
        #expect(out.stderr.hasPrefix("lotse: \(variable)=\"\(value)\" is not valid"), "\(out.stderr)")
    }

    @Test func serveDoesNotStartWithAnInvalidSetting() throws {
        let dir = TestSupport.tempDir("lotse-cli-config")
        let out = try TestSupport.lotse(
            ["serve", "--port", String(TestSupport.freePort())],
            dataDir: dir,
            env: ["LOTSE_IDLE_TIMEOUT": "sixty"]
        )
        #expect(out.status == 2)
        #expect(singleLine(out.stderr), "\(out.stderr)")
        #expect(out.stderr.contains("LOTSE_IDLE_TIMEOUT=\"sixty\""), "\(out.stderr)")
    }
}
