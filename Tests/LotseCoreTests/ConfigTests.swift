import Foundation
import LotseCore
import LotseTestSupport
import Testing

/// `LotseConfig(environment:)` reads every setting strictly: a number or a switch that is set must say what it means.
@Suite struct ConfigTests {
    func config(_ environment: [String: String]) throws -> LotseConfig {
        try LotseConfig(environment: environment)
    }

    func error(_ environment: [String: String]) -> ConfigError? {
        do {
            _ = try LotseConfig(environment: environment)
            return nil
        } catch {
            return error
        }
    }

    @Test func anEmptyEnvironmentGivesTheDefaults() throws {
        let c = try config([:])
        #expect(c.dataDir == "./lotse-data")
        #expect(c.publicBaseURL == "http://127.0.0.1:8080")
        #expect(c.paymentDays == 7)
        #expect(c.graceDays == 5)
        #expect(c.paypalTimeout == 20)
        #expect(c.paymentSweepSeconds == 120)
        #expect(c.paymentSweepAge == 600)
        #expect(c.viewFlushSeconds == 5)
        #expect(c.idleTimeout == 60)
        #expect(c.readTimeout == 30)
        #expect(c.qrWorkers == nil)
        #expect(c.demo == false)
        #expect(c.paypalConfigured == false)
    }

    /// The PDF report's Chromium: named, switched off, or found on `PATH`.
    @Test func chromiumIsNamedSwitchedOffOrFound() throws {
        let dir = TestSupport.tempDir("lotse-path")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try config(["LOTSE_CHROMIUM": "/opt/chrome/chrome", "PATH": dir]).chromiumPath == "/opt/chrome/chrome")
        #expect(try config(["LOTSE_CHROMIUM": "off"]).chromiumPath == nil)
        #expect(try config(["PATH": dir]).chromiumPath == nil)
        FileManager.default.createFile(atPath: dir + "/chromium-browser", contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755])
        #expect(try config(["PATH": "/nonexistent:" + dir]).chromiumPath == dir + "/chromium-browser")
    }

    @Test func validSettingsAreRead() throws {
        let c = try config([
            "LOTSE_PAYMENT_DAYS": "14", "LOTSE_GRACE_DAYS": "0", "LOTSE_PAYPAL_TIMEOUT": "2.5", "LOTSE_PAYMENT_SWEEP_SECONDS": "1",
            "LOTSE_PAYMENT_SWEEP_AGE": "0", "LOTSE_IDLE_TIMEOUT": " 90 ", "LOTSE_READ_TIMEOUT": "0.5", "LOTSE_QR_WORKERS": "2",
            "LOTSE_DEMO": "1", "LOTSE_RESOURCES": "/srv/lotse", "LOTSE_PUBLIC_BASE_URL": "https://example.org//",
        ])
        #expect(c.paymentDays == 14)
        #expect(c.graceDays == 0)
        #expect(c.paypalTimeout == 2.5)
        #expect(c.paymentSweepSeconds == 1)
        #expect(c.paymentSweepAge == 0)
        #expect(c.idleTimeout == 90)
        #expect(c.readTimeout == 0.5)
        #expect(c.qrWorkers == 2)
        #expect(c.demo)
        #expect(c.resourceRoot == "/srv/lotse")
        #expect(c.publicBaseURL == "https://example.org")
        #expect(try config(["LOTSE_DEMO": "true"]).demo)
        #expect(try config(["LOTSE_DEMO": "0"]).demo == false)
        #expect(try config(["LOTSE_DEMO": "false"]).demo == false)
    }

    @Test(arguments: ["seven", "-3", "7x", "", " ", "+7", "7.0", "0", "366", "99999999999999999999999", "0x10", "7 days"])
    func paymentDaysThatDoNotParseAreAnError(_ value: String) {
        let e = error(["LOTSE_PAYMENT_DAYS": value])
        #expect(e?.variable == "LOTSE_PAYMENT_DAYS", "\(value)")
        #expect(e?.value == value)
    }

    @Test(arguments: [
        "LOTSE_PAYPAL_TIMEOUT", "LOTSE_PAYMENT_SWEEP_SECONDS", "LOTSE_IDLE_TIMEOUT", "LOTSE_READ_TIMEOUT",
    ])
    func secondsThatDoNotParseAreAnError(_ variable: String) {
        for value in ["twenty", "", "0", "-1", "1e3", "inf", "nan", ".5", "5.", "1.2.3", "20s", "1000001"] {
            #expect(error([variable: value])?.variable == variable, "\(variable)=\(value)")
        }
    }

    @Test func everyOtherNumberAndSwitchIsStrict() {
        for (variable, value) in [
            ("LOTSE_GRACE_DAYS", "-1"), ("LOTSE_GRACE_DAYS", "five"), ("LOTSE_PAYMENT_SWEEP_AGE", "1.5"),
            ("LOTSE_PAYMENT_SWEEP_AGE", "-600"), ("LOTSE_QR_WORKERS", "0"), ("LOTSE_QR_WORKERS", "seven"),
            ("LOTSE_DEMO", "yes"), ("LOTSE_DEMO", ""), ("LOTSE_DEMO", "2"),
        ] {
            #expect(error([variable: value])?.variable == variable, "\(variable)=\(value)")
        }
    }

    @Test func theMessageIsOneLineNamingTheVariableAndTheValue() {
        #expect(
            error(["LOTSE_PAYMENT_DAYS": "seven"])?.description
                == "LOTSE_PAYMENT_DAYS=\"seven\" is not valid: expected a whole number of days from 1 to 365"
        )
        let multiline = error(["LOTSE_PAYMENT_DAYS": "7\nLOTSE_X=1"])?.description ?? ""
        #expect(!multiline.contains("\n"))
        #expect(multiline.contains("LOTSE_PAYMENT_DAYS=\"7\\nLOTSE_X=1\""))
        let long = error(["LOTSE_QR_WORKERS": String(repeating: "x", count: 500)])?.description ?? ""
        #expect(long.count < 200)
    }

    @Test func emptyTextSettingsCountAsUnset() throws {
        let c = try config(["LOTSE_OFFICE_TOKEN": "", "LOTSE_DATA_DIR": " ", "LOTSE_PAYEE_NAME": ""])
        #expect(c.officeToken == nil)
        #expect(c.dataDir == "./lotse-data")
        #expect(c.payeeName == nil)
    }

    @Test func pilotDataIsLookedUpInTheGivenEnvironment() throws {
        let dir = TestSupport.tempDir("lotse-config")
        TestSupport.write(dir + "/tbnr-parking.csv", "tbnr;text\n")
        let environment = ["LOTSE_PILOT_DATA": dir]
        #expect(LotseConfig.findPilotData("tbnr-parking.csv", environment: environment) == dir + "/tbnr-parking.csv")
        let c = try config(environment)
        #expect(c.cataloguePath == dir + "/tbnr-parking.csv")
        #expect(c.resourceRoot == (dir as NSString).deletingLastPathComponent)
    }
}
