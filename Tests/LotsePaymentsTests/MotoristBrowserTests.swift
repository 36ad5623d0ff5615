import Foundation
import LotseTestSupport
import Testing

/// The case page in a real phone-sized Chromium (issue 16): what is to pay, by when, and the first way to pay are
/// on the first screen at 360×640 and 390×844, in German and English; the page never scrolls sideways; the
/// motorist pays with the simulator and gets a confirmation whose code `/verify` confirms.
@Suite(.serialized) struct MotoristBrowserTests {
    @Test(.enabled(if: WebDriver.available, "chromium and chromedriver are installed by make test"))
    func aMotoristOnAPhoneSeesWhatToPayAndPays() async throws {
        let h = try PayPalHarness(
            cases: 2,
            env: ["LOTSE_PAYEE_NAME": "Stadtkasse Kaiserslautern", "LOTSE_PAYEE_IBAN": "DE89 3704 0044 0532 0130 00"]
        )
        defer { h.stop() }
        let tok = try #require(h.tokens["KL-2026-0000001"])
        let browser = try WebDriver(width: 360, height: 640, log: h.dir + "/chromedriver.log")
        defer { browser.quit() }
        let shots = ProcessInfo.processInfo.environment["LOTSE_SCREENSHOT_DIR"]
        // every language at 360×640 (Leichte Sprache's sentences are the longest, Arabic runs right to left), German and
        // English at 390×844 too
        let languages = ["de", "de-x-ls", "en", "ar", "fr", "pl", "ro", "ru", "tr", "uk"]
        for (width, height) in [(360, 640), (390, 844)] {
            for lang in width == 360 ? languages : ["de", "en"] {
                try browser.go(h.base + "/T/\(tok)?lang=\(lang)")
                let inner = try browser.viewport(width: width, height: height)
                #expect(inner.width == width && inner.height == height, "viewport \(inner)")
                let seen = try #require(
                    try browser.script(
                        """
                        const bottom = s => { const e = document.querySelector(s); return e ? Math.ceil(e.getBoundingClientRect().bottom) : 99999; };
                        return { height: window.innerHeight, sideways: document.documentElement.scrollWidth - window.innerWidth,
                                 number: bottom('h1 .case-no'), amount: bottom('.due .amount'), deadline: bottom('.due .deadline'),
                                 pay: bottom('form[action$="/pay"] button') };
                        """
                    ) as? [String: Int]
                )
                let screen = try #require(seen["height"])
                #expect(seen["sideways"] ?? 1 <= 0, "\(width)×\(height) \(lang): \(seen)")
                for part in ["number", "amount", "deadline", "pay"] {
                    #expect((seen[part] ?? 99999) <= screen, "\(width)×\(height) \(lang): \(part) is below the first screen: \(seen)")
                }
                if let shots, width == 360, ["de", "en", "ar"].contains(lang) { try browser.screenshot(to: shots + "/case-\(lang)-360.png") }
            }
        }
        // right to left: the page mirrored (the city's name and logo on the right, the language switch on the left), the
        // case number and the IBAN still left to right
        try browser.viewport(width: 360, height: 640)
        try browser.go(h.base + "/T/\(tok)?lang=ar")
        let mirrored = try #require(
            try browser.script(
                """
                const r = s => document.querySelector(s).getBoundingClientRect();
                return { width: window.innerWidth, dir: getComputedStyle(document.body).direction,
                         brandRight: Math.round(r('.brand').right), switchRight: Math.round(r('details.langs').right),
                         statusRight: Math.round(r('.status').right), numberDir: getComputedStyle(document.querySelector('h1 .case-no')).direction,
                         ibanDir: getComputedStyle(document.querySelector('dd.iban')).direction };
                """
            ) as? [String: Any]
        )
        let screenWidth = try #require(mirrored["width"] as? Int)
        #expect(mirrored["dir"] as? String == "rtl", "\(mirrored)")
        #expect((mirrored["brandRight"] as? Int ?? 0) >= screenWidth - 40, "the brand sits on the right: \(mirrored)")
        #expect((mirrored["switchRight"] as? Int ?? 999) < screenWidth / 2, "the language switch sits on the left: \(mirrored)")
        #expect((mirrored["statusRight"] as? Int ?? 0) >= screenWidth - 40, "\(mirrored)")
        #expect(mirrored["numberDir"] as? String == "ltr" && mirrored["ibanDir"] as? String == "ltr", "\(mirrored)")
        // the switch: closed it is one line in the header; opened, it lists the other nine by their own names, and a choice
        // keeps the page (the case) and changes its language
        try browser.go(h.base + "/T/\(tok)?lang=de")
        #expect(try browser.script("return !document.querySelector('details.langs nav a').checkVisibility()") as? Bool == true)
        try browser.click("details.langs summary")
        let listed = try browser.script("return [...document.querySelectorAll('details.langs nav a')].map(a => a.textContent)") as? [String]
        #expect(
            listed == ["Leichte Sprache", "English", "العربية", "Français", "Polski", "Română", "Русский", "Türkçe", "Українська"],
            "\(listed ?? [])"
        )
        try browser.click("details.langs a[hreflang='uk']")
        #expect(browser.wait { browser.url.hasSuffix("/T/\(tok)?lang=uk") && browser.source.contains("<html lang=\"uk\"") }, "\(browser.url)")
        // axe-core finds no violation of WCAG 2.1 A/AA on the motorist's pages, in German and English (and does find
        // them on a page made to have some, so the check can fail)
        try browser.go("data:text/html,<html><body><img src=x><input type=text><a href=/x></a></body></html>")
        let planted = try browser.accessibilityViolations()
        #expect(planted.contains { $0.hasPrefix("image-alt") } && planted.contains { $0.hasPrefix("label") }, "\(planted)")
        let statementPath = "/T/\(tok)/statement"
        for path in ["/", "/T/\(tok)", statementPath, "/verify", "/impressum", "/datenschutz", "/barrierefreiheit", "/kontakt", "/nowhere"] {
            for lang in path == "/" || path == "/T/\(tok)" ? languages : ["de", "en"] {
                try browser.go(h.base + path + "?lang=" + lang)
                let violations = try browser.accessibilityViolations()
                #expect(violations.isEmpty, "\(path) \(lang): \(violations)")
            }
        }
        // paying: the button, the simulator's approval, back to the confirmation, whose code /verify confirms
        try browser.viewport(width: 390, height: 844)
        try browser.go(h.base + "/T/\(tok)?lang=en")
        try browser.click("button.paypal")
        #expect(browser.wait { browser.url.hasPrefix(h.simBase) }, "not at PayPal: \(browser.url)")
        try browser.go(browser.url + "&sim_action=approve")
        #expect(browser.wait(15) { browser.url.contains("/receipt") }, "no confirmation: \(browser.url)")
        let receipt = browser.source
        #expect(receipt.contains("Confirmation of payment") && receipt.contains("€25.00"))
        let start = try #require(receipt.range(of: "/verify?code="))
        let code = String(receipt[start.upperBound...].prefix { $0 != "<" && $0 != "\"" })
        try browser.go(h.base + "/verify?lang=en")
        try browser.type("#code", code)
        try browser.click("form[action='/verify#check'] button")
        #expect(browser.wait { browser.source.contains("Genuine: the city received €25.00 for case KL-2026-0000001") })
        #expect(try browser.accessibilityViolations().isEmpty, "the check's answer")
        try browser.go(h.base + "/T/\(tok)/receipt?lang=de")
        let receiptViolations = try browser.accessibilityViolations()
        #expect(receiptViolations.isEmpty, "receipt: \(receiptViolations)")

        // a statement with a photo, on a phone: the ground, the text, the picture; then the confirmation's number
        let second = try #require(h.tokens["KL-2026-0000002"])
        let photo = h.dir + "/parkschein.png"
        TestSupport.write(
            photo,
            bytes: [
                0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01,
                0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41,
                0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49,
                0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
            ]
        )
        try browser.viewport(width: 360, height: 640)
        try browser.go(h.base + "/T/\(second)?lang=en")
        try browser.click("p.statement-link a")
        #expect(browser.wait { browser.url.contains("/statement") })
        try browser.click("input[name='ground'][value='valid_ticket']")
        try browser.type("#text", "I had a valid ticket until 10 o'clock; the photo shows it.")
        try browser.choose("#file", file: photo)
        try browser.click("form[enctype='multipart/form-data'] button")
        #expect(browser.wait { browser.source.contains("Receipt number") }, "no confirmation: \(browser.url)")
        #expect(browser.source.contains("S-000001") && browser.source.contains("I had a valid parking ticket or permit."))
        let confirmationViolations = try browser.accessibilityViolations()
        #expect(confirmationViolations.isEmpty, "statement confirmation: \(confirmationViolations)")

        // a partly paid case: 10 EUR arrive in cash; the page says so and PayPal asks for the remaining 15 EUR
        TestSupport.write(h.dir + "/cash.csv", "case_number;amount_eur;paid_on\nKL-2026-0000002;10,00;2026-03-15\n")
        #expect(try TestSupport.lotse(["payments", "import", h.dir + "/cash.csv"], dataDir: h.dir, env: h.serveEnv).status == 0)
        try browser.go(h.base + "/T/\(second)?lang=en")
        let partly = try browser.wait {
            try browser.go(h.base + "/T/\(second)?lang=en")
            return browser.source.contains("We have received €10.00 of €25.00.")
        }
        #expect(partly, "the partial payment is not on the page")
        try browser.click("button.paypal")
        #expect(browser.wait { browser.url.hasPrefix(h.simBase) })
        // the simulator lists its orders in no particular order: the second case's is for what is still due
        let secondOrders = try h.simOrders().filter { $0["invoice_id"] as? String == "KL-2026-0000002" }
        #expect(secondOrders.map { $0["value"] as? String } == ["15.00"], "\(secondOrders)")
        try browser.go(browser.url + "&sim_action=approve")
        #expect(browser.wait(15) { browser.url.contains("/receipt") }, "no confirmation: \(browser.url)")
    }
}
