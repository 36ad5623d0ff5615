import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LotseCore
import LotseImport
@_spi(Testing) import LotseStorage
import LotseTestSupport
import LotseTokens
import Testing

/// Issue 14: `POST /api/v1/tickets`, signed by the device key (formats §2b).
@Suite struct TicketAPITests {
    static let ticket: [String: String] = [
        "ticket_no": "0009001", "device_id": "HH-07", "issued_at": "2026-03-14T10:15", "plate": "KL-XY 9001",
        "tbnr": "141312", "street": "Marktstraße", "house_no": "3", "zip": "67655", "city": "Kaiserslautern",
    ]

    static func body(_ fields: [String: String]) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Array(try encoder.encode(fields))
    }

    /// The headers a handheld sends: device, timestamp, base64 HMAC-SHA256(device key, timestamp + "\n" + body).
    static func headers(
        _ f: WebFixture,
        device: String = "HH-07",
        key: [UInt8],
        body: [UInt8],
        at: Int64 = Int64(Date().timeIntervalSince1970)
    )
        -> HTTPFields
    {
        let stamp = String(at)
        let mac = HMAC<SHA256>.authenticationCode(for: Array((stamp + "\n").utf8) + body, using: SymmetricKey(data: key))
        return [
            HTTPField.Name("Lotse-Device")!: device, HTTPField.Name("Lotse-Timestamp")!: stamp,
            HTTPField.Name("Lotse-Signature")!: Data(mac).base64EncodedString(), .contentType: "application/json",
        ]
    }

    /// `fields` as a ticket, signed by the device key `key` of HH-07.
    static func post(_ client: any TestClientProtocol, _ f: WebFixture, key: [UInt8], _ fields: [String: String]) async throws -> TestResponse {
        let body = try Self.body(fields)
        return try await client.execute(
            uri: "/api/v1/tickets",
            method: .post,
            headers: Self.headers(f, key: key, body: body),
            body: ByteBuffer(bytes: body)
        )
    }

    @Test func aSignedTicketBecomesACaseOnceAndTheExportCountsItAsADuplicate() async throws {
        let f = try await WebFixture()
        let device = try f.store.enrollDevice(id: "HH-07", keyID: Int(f.env.tokens.ring.current.id), now: 1_000)
        let key = try #require(f.env.tokens.deviceKey(number: UInt16(device.number), generation: UInt8(device.generation)))
        let body = try Self.body(Self.ticket)
        try await f.test { (client: any TestClientProtocol) async throws in
            let first = try await client.execute(
                uri: "/api/v1/tickets",
                method: .post,
                headers: Self.headers(f, key: key.key, body: body),
                body: ByteBuffer(bytes: body)
            )
            #expect(first.status == .created, "\(first.text)")
            let answer = try #require(try JSONSerialization.jsonObject(with: Data(first.text.utf8)) as? [String: String])
            let number = try #require(answer["case_number"])
            let token = try #require(answer["token"])
            #expect(answer["url"] == TicketTokens.url(base: f.config.publicBaseURL, token: token))
            // the token is the one the handheld computes offline for this ticket
            let issued = try #require(TimeParser.parse("2026-03-14T10:15"))
            let claim = try #require(
                TicketClaim.ticket(
                    keyID: key.keyID,
                    deviceNumber: 1,
                    generation: 1,
                    ticketNumber: 9001,
                    issuedAt: issued,
                    tbnr: "141312",
                    amountCents: 2500
                )
            )
            #expect(token == TicketTokens.make(claim, deviceKey: key.key))
            let page = try await client.execute(uri: "/T/\(token)", method: .get)
            #expect(page.status == .ok && page.text.contains(number))
            // the same ticket again: 200 with the same body
            let again = try await client.execute(
                uri: "/api/v1/tickets",
                method: .post,
                headers: Self.headers(f, key: key.key, body: body),
                body: ByteBuffer(bytes: body)
            )
            #expect(again.status == .ok && again.text == first.text)

            // invalid: 422 with the importer's reason
            var bad = Self.ticket
            bad["ticket_no"] = "0009002"
            bad["tbnr"] = "999999"
            let invalid = try await Self.post(client, f, key: key.key, bad)
            #expect(invalid.status == .unprocessableContent && invalid.text.contains("\"error\""), "\(invalid.text)")
            var other = Self.ticket
            other["device_id"] = "HH-99"
            let foreign = try await Self.post(client, f, key: key.key, other)
            #expect(foreign.status == .unprocessableContent)
            // the same with the sender's id under a name the import reads as the same field (" device_id" sorts before
            // "device_id"): refused, not imported as the other device's ticket
            var spaced = Self.ticket
            spaced["device_id"] = "HH-99"
            spaced[" device_id"] = "HH-07"
            spaced["ticket_no"] = "0009002"
            let disguised = try await Self.post(client, f, key: key.key, spaced)
            #expect(disguised.status == .unprocessableContent && disguised.text.contains("given twice"), "\(disguised.text)")
            #expect(try f.store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM cases WHERE ticket_no = '0009002'") } == 0)

            // a bad signature, a changed body, an old timestamp, an unknown device: 401, nothing written
            let wrongKey = Array(repeating: UInt8(7), count: 32)
            for headers in [
                Self.headers(f, key: wrongKey, body: body),
                Self.headers(f, key: key.key, body: body, at: Int64(Date().timeIntervalSince1970) - 3_600),
                Self.headers(f, device: "HH-99", key: key.key, body: body),
            ] {
                let refused = try await client.execute(uri: "/api/v1/tickets", method: .post, headers: headers, body: ByteBuffer(bytes: body))
                #expect(refused.status == .unauthorized)
            }
            var changed = body
            changed[changed.count - 3] ^= 1
            let tampered = try await client.execute(
                uri: "/api/v1/tickets",
                method: .post,
                headers: Self.headers(f, key: key.key, body: body),
                body: ByteBuffer(bytes: changed)
            )
            #expect(tampered.status == .unauthorized)
        }
        #expect(try f.store.allCases().filter { $0.ticketNo == "0009001" }.count == 1)
        #expect(try f.store.allCases().filter { $0.ticketNo == "0009002" }.isEmpty)
        // the evening export of the same ticket: a duplicate
        let export = f.dir + "/evening.csv"
        TestSupport.write(
            export,
            "ticket_no;device_id;issued_at;plate;tbnr;street;house_no;zip;city\n0009001;HH-07;2026-03-14T10:15;KL-XY 9001;141312;Marktstraße;3;67655;Kaiserslautern\n"
        )
        let summary = try Importer(store: f.store, config: f.config, catalogue: try Catalogue(contentsOf: TestSupport.cataloguePath)).importFile(
            export
        )
        #expect(summary.imported == 0 && summary.duplicates == 1)
    }

    @Test func aRevokedDeviceCannotSend() async throws {
        let f = try await WebFixture()
        let device = try f.store.enrollDevice(id: "HH-07", keyID: Int(f.env.tokens.ring.current.id), now: 1_000)
        let key = try #require(f.env.tokens.deviceKey(number: UInt16(device.number), generation: UInt8(device.generation)))
        _ = try f.store.revokeDevice(id: "HH-07", now: 2_000)
        let body = try Self.body(Self.ticket)
        try await f.test { (client: any TestClientProtocol) async throws in
            let refused = try await client.execute(
                uri: "/api/v1/tickets",
                method: .post,
                headers: Self.headers(f, key: key.key, body: body),
                body: ByteBuffer(bytes: body)
            )
            #expect(refused.status == .unauthorized)
        }
    }
}
