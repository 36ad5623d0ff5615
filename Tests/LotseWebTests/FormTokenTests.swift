import Foundation
import Testing

@testable import LotseWeb

/// The signed values of the motorist's forms (issue 16: forms work without cookies).
@Suite struct FormTokenTests {
    let tokens = FormTokens(secret: Data(repeating: 7, count: 32).base64EncodedString(), lifetime: 3600)

    @Test func aValueWorksForItsFormUntilItExpires() {
        let value = tokens.make(action: "/T/ABC/pay", now: 1_000_000)
        #expect(tokens.verify(value, action: "/T/ABC/pay", now: 1_000_000))
        #expect(tokens.verify(value, action: "/t/abc/pay", now: 1_003_600))  // the case token's letters in either case
        #expect(!tokens.verify(value, action: "/T/ABC/pay", now: 1_003_601))  // expired
        #expect(!tokens.verify(value, action: "/T/ABD/pay", now: 1_000_000))  // another form
        #expect(!tokens.verify(value, action: "/lookup", now: 1_000_000))
        // an expiry moved later, a value from the future, another key, nothing
        let parts = value.split(separator: ".")
        #expect(!tokens.verify("\(Int(parts[0])! + 60).\(parts[1])", action: "/T/ABC/pay", now: 1_000_000))
        #expect(!tokens.verify(tokens.make(action: "/lookup", now: 2_000_000), action: "/lookup", now: 1_000_000))
        let other = FormTokens(secret: Data(repeating: 8, count: 32).base64EncodedString(), lifetime: 3600)
        #expect(!other.verify(value, action: "/T/ABC/pay", now: 1_000_000))
        for junk in [nil, "", ".", "x.y", "1000000", "1000100.", "1000100.zz"] as [String?] {
            #expect(!tokens.verify(junk, action: "/T/ABC/pay", now: 1_000_000))
        }
    }
}

/// A restart after `lotse keys rotate` signs forms with the new key; a form opened before it still posts.
@Suite struct FormTokenRotationTests {
    @Test func aFormOpenedBeforeARotationStillPosts() {
        let old = Data(repeating: 7, count: 32).base64EncodedString()
        let new = Data(repeating: 9, count: 32).base64EncodedString()
        let before = FormTokens(secrets: [old], lifetime: 3600).make(action: "/T/ABC/pay", now: 1_000_000)
        let after = FormTokens(secrets: [old, new], lifetime: 3600)
        #expect(after.verify(before, action: "/T/ABC/pay", now: 1_000_100))
        #expect(!after.verify(before, action: "/T/ABC/other", now: 1_000_100))
        let fresh = after.make(action: "/T/ABC/pay", now: 1_000_100)
        #expect(FormTokens(secrets: [new], lifetime: 3600).verify(fresh, action: "/T/ABC/pay", now: 1_000_100))
        #expect(!FormTokens(secrets: [old], lifetime: 3600).verify(fresh, action: "/T/ABC/pay", now: 1_000_100))
    }
}

/// The one-pass filling of a translation's `{placeholders}`.
@Suite struct PlaceholderTests {
    @Test func placeholdersAreFilledAndOthersLeftAlone() {
        let values = ["amount": "€25.00", "deadline": "21 March 2026"]
        func fill(_ text: String) -> String { Translations.fill(text) { values[String($0)] } }
        #expect(fill("Please pay {amount} by {deadline}.") == "Please pay €25.00 by 21 March 2026.")
        #expect(fill("{amount}{amount}") == "€25.00€25.00")
        #expect(fill("no placeholders") == "no placeholders")
        #expect(fill("{unknown} and {amount} and {") == "{unknown} and €25.00 and {")
        #expect(fill("ünïcödé {amount} – {deadline}") == "ünïcödé €25.00 – 21 March 2026")
    }
}
