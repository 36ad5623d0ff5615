import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LotseCore
@_spi(Testing) import LotseStorage
import LotseTestSupport
import LotseTokens
import Testing

/// Issue 14: version 2 ticket tokens at /T/ and /t/: the imported ticket's case page, the pending page before the
/// export arrives (in German and English), stock codes, revocation and forgeries.
@Suite struct TicketPageTests {
    /// A ticket token of the enrolled device `device`, signed with its device key as a handheld would.
    static func token(
        _ f: WebFixture,
        _ device: DeviceRecord,
        ticket: UInt32,
        at issuedAt: Int64?,
        tbnr: String = "141312",
        cents: Int = 2500
    )
        throws -> String
    {
        let key = try #require(
            f.env.tokens.deviceKey(number: UInt16(device.number), generation: UInt8(device.generation), keyID: UInt8(device.keyID))
        )
        let claim: TicketClaim
        if let issuedAt {
            claim = try #require(
                TicketClaim.ticket(
                    keyID: key.keyID,
                    deviceNumber: UInt16(device.number),
                    generation: UInt8(device.generation),
                    ticketNumber: ticket,
                    issuedAt: issuedAt,
                    tbnr: tbnr,
                    amountCents: cents
                )
            )
        } else {
            claim = .stock(keyID: key.keyID, deviceNumber: UInt16(device.number), generation: UInt8(device.generation), ticketNumber: ticket)
        }
        return TicketTokens.make(claim, deviceKey: key.key)
    }

    @Test func anImportedTicketShowsItsCaseAndAPendingOneWhatTheTokenSigns() async throws {
        let f = try await WebFixture()
        let device = try f.store.enrollDevice(id: "HH-07", keyID: Int(f.env.tokens.ring.current.id), now: 1_000)
        let issued = try #require(TimeParser.parse("2026-03-14T07:00"))
        // 0004711 of HH-07 is in the sample export: its case, in every route that takes a token
        let imported = try Self.token(f, device, ticket: 4711, at: issued, tbnr: "117161", cents: 3500)
        // 4799 has not been imported yet
        let pending = try Self.token(f, device, ticket: 4799, at: issued + 3_600)
        let stock = try Self.token(f, device, ticket: 4800, at: nil)
        try await f.test { (client: any TestClientProtocol) async throws in
            let page = try await client.execute(uri: "/T/\(imported)", method: .get)
            #expect(page.status == .ok)
            let number = try #require(try f.store.allCases().first { $0.ticketNo == "0004711" }?.caseNumber)
            #expect(page.text.contains(number))
            #expect(try await client.execute(uri: "/t/\(imported.lowercased())", method: .get).text.contains(number))
            #expect(try await client.execute(uri: "/T/\(imported)/girocode.svg", method: .get).status == .ok)

            let de = try await client.execute(uri: "/T/\(pending)", method: .get, headers: [.acceptLanguage: "de"])
            #expect(de.status == .ok)
            #expect(de.headers[.cacheControl]?.contains("no-store") == true)
            for text in ["4799", "HH-07", "14.03.2026", "08:00", "141312", "25,00", "21.03.2026", "Die vollständigen Angaben folgen"] {
                #expect(de.text.contains(text), "\(text)")
            }
            // the offence text of the catalogue, and the bank transfer with the ticket's reference
            #expect(de.text.contains("DE89 3704 0044 0532 0130 00"))
            let reference = try #require(RFReference.make(from: "HH074799"))
            #expect(de.text.contains(Payee.grouped(reference)))
            let en = try await client.execute(uri: "/T/\(pending)?lang=en", method: .get)
            #expect(en.text.contains("The full record follows") && en.text.contains("25.00"))
            #expect(en.text.contains("21 March 2026") && en.text.contains("Ticket number"))

            let stockPage = try await client.execute(uri: "/T/\(stock)", method: .get, headers: [.acceptLanguage: "de"])
            #expect(stockPage.status == .ok)
            #expect(stockPage.text.contains("4800") && stockPage.text.contains("nach der nächsten Übernahme"))
            #expect(!stockPage.text.contains("25,00"))

            // forged, altered, unknown device: the plain 404, the same as for a forged case token
            var altered = Array(pending)
            altered[30] = altered[30] == "A" ? "B" : "A"
            #expect(try await client.execute(uri: "/T/\(String(altered))", method: .get).status == .notFound)
        }
    }

    @Test func aRevokedDevicesLaterTicketsAreRefusedAndEarlierOnesKept() async throws {
        let f = try await WebFixture()
        let keyID = Int(f.env.tokens.ring.current.id)
        let first = try f.store.enrollDevice(id: "HH-07", keyID: keyID, now: 1_000)
        let issued = try #require(TimeParser.parse("2026-03-14T07:00"))
        let before = try Self.token(f, first, ticket: 4799, at: issued)
        let after = try Self.token(f, first, ticket: 4798, at: issued + 7_200)
        let stockNotImported = try Self.token(f, first, ticket: 4800, at: nil)
        let stockImported = try Self.token(f, first, ticket: 4711, at: nil)
        _ = try f.store.revokeDevice(id: "HH-07", now: issued + 3_600)
        let second = try f.store.enrollDevice(id: "HH-07", keyID: keyID, now: issued + 3_700)
        #expect(second.number == first.number && second.generation == 2)
        let renewed = try Self.token(f, second, ticket: 4797, at: issued + 7_200)
        // a device that was never enrolled
        var unknown = second
        unknown.number = 99
        unknown.generation = 1
        let stranger = try Self.token(f, unknown, ticket: 4797, at: issued)
        try await f.test { (client: any TestClientProtocol) async throws in
            #expect(try await client.execute(uri: "/T/\(before)", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/T/\(after)", method: .get).status == .notFound)
            #expect(try await client.execute(uri: "/T/\(stockNotImported)", method: .get).status == .notFound)
            #expect(try await client.execute(uri: "/T/\(stockImported)", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/T/\(renewed)", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/T/\(stranger)", method: .get).status == .notFound)
        }
    }

    /// PayPal before the import only for a token that could be the real ticket: the catalogue's amount, issued within
    /// `LOTSE_PENDING_DAYS`, of a device not revoked (issue 14 review: a stolen key must not open cases at will).
    @Test func onlyAPlausibleTicketOffersPayPalBeforeItsImport() async throws {
        let f = try await WebFixture(paypal: true)
        let device = try f.store.enrollDevice(id: "HH-07", keyID: Int(f.env.tokens.ring.current.id), now: 1_000)
        let now = Int64(Date().timeIntervalSince1970)
        let good = try Self.token(f, device, ticket: 4799, at: now - 3_600)
        let cheap = try Self.token(f, device, ticket: 4798, at: now - 3_600, cents: 1)
        let old = try Self.token(f, device, ticket: 4797, at: now - 40 * 86_400)
        let future = try Self.token(f, device, ticket: 4796, at: now + 3 * 86_400)
        try await f.test { (client: any TestClientProtocol) async throws in
            #expect(try await client.execute(uri: "/T/\(good)", method: .get).text.contains("/pay\""))
            for token in [cheap, old, future] {
                let page = try await client.execute(uri: "/T/\(token)", method: .get)
                #expect(page.status == .ok && !page.text.contains("/pay\""))
                // and pressing anyway opens nothing
                let pressed = try await client.execute(uri: "/t/\(token)/pay", method: .post)
                #expect(pressed.status == .notFound)
            }
            #expect(try f.store.allCases().allSatisfy { !$0.isProvisional })
        }
    }
}
