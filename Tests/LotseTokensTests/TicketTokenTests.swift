import Foundation
import LotseCore
import LotseQR
import LotseTestSupport
import LotseTokens
import Testing

/// Issue 14: version 2 ticket tokens (formats §2b), checked against the test vectors of docs/handheld.md, which an
/// independent implementation (Python's hmac and base64, scripts/ticket_token.py) computes from the spec's text.
@Suite struct TicketTokenTests {
    struct Vector {
        var name: String
        var signingKey: [UInt8]
        var keyID: UInt8
        var number: UInt16
        var generation: UInt8
        var ticket: UInt32
        var time: String?
        var tbnr: String?
        var cents: Int?
        var deviceKeyHex: String
        var token: String
    }

    static func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    static func hexText(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    /// The vectors table of docs/handheld.md.
    static func vectors() throws -> [Vector] {
        let text = try String(contentsOfFile: TestSupport.root + "/docs/handheld.md", encoding: .utf8)
        return text.split(separator: "\n").compactMap { line -> Vector? in
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == 11, ["ticket", "stock", "limits"].contains(cells[0]) else { return nil }
            let stock = cells[6] == "–"
            return Vector(
                name: cells[0],
                signingKey: hex(cells[1]),
                keyID: UInt8(cells[2])!,
                number: UInt16(cells[3])!,
                generation: UInt8(cells[4])!,
                ticket: UInt32(cells[5])!,
                time: stock ? nil : cells[6],
                tbnr: stock ? nil : cells[7],
                cents: stock ? nil : Int(cells[8])!,
                deviceKeyHex: cells[9],
                token: cells[10]
            )
        }
    }

    static func claim(_ v: Vector) throws -> TicketClaim {
        guard let time = v.time else {
            return .stock(keyID: v.keyID, deviceNumber: v.number, generation: v.generation, ticketNumber: v.ticket)
        }
        let issuedAt = try #require(TimeParser.parse(time))
        return try #require(
            TicketClaim.ticket(
                keyID: v.keyID,
                deviceNumber: v.number,
                generation: v.generation,
                ticketNumber: v.ticket,
                issuedAt: issuedAt,
                tbnr: v.tbnr!,
                amountCents: v.cents!
            )
        )
    }

    /// A key ring whose key `id` is `secret` (and a key 1 besides, so the ring's current key is not the one used).
    static func ring(id: UInt8, secret: [UInt8]) -> CaseTokens {
        var keys = [KeyRing.Key(id: id, secret: Data(secret).base64EncodedString(), created: "2026-01-01T00:00:00Z")]
        if id != 1 { keys.append(KeyRing.Key(id: 1, secret: Data(repeating: 9, count: 32).base64EncodedString(), created: "2026-01-01T00:00:00Z")) }
        return CaseTokens(ring: KeyRing(keys: keys))
    }

    @Test func theDocumentsVectorsAreWhatSwiftAndAnIndependentImplementationCompute() throws {
        let vectors = try Self.vectors()
        #expect(vectors.map(\.name) == ["ticket", "stock", "limits"])
        for v in vectors {
            let deviceKey = DeviceKey.derive(signingKey: v.signingKey, number: v.number, generation: v.generation)
            #expect(Self.hexText(deviceKey) == v.deviceKeyHex, "\(v.name)")
            let token = TicketTokens.make(try Self.claim(v), deviceKey: deviceKey)
            #expect(token == v.token, "\(v.name)")
            #expect(token.count == 55)
            var args = [TestSupport.root + "/scripts/ticket_token.py", Self.hexText(v.signingKey), String(v.keyID), String(v.number)]
            args += [String(v.generation), String(v.ticket)]
            if let time = v.time { args += [time, v.tbnr!, String(v.cents!)] }
            let python = try TestSupport.run("/usr/bin/env", ["python3"] + args)
            #expect(python.stdout.split(separator: "\n").map(String.init) == [v.deviceKeyHex, v.token], "\(v.name): \(python.stderr)")
            // the server derives the device key from its ring and verifies
            let server = Self.ring(id: v.keyID, secret: v.signingKey)
            #expect(server.verifyTicket(v.token) == (try Self.claim(v)))
            #expect(server.verifyTicket(v.token.lowercased()) == (try Self.claim(v)))
            #expect(server.deviceKey(number: v.number, generation: v.generation, keyID: v.keyID)?.key == deviceKey)
        }
        // the key file example in the document holds the first vector's device key
        let text = try String(contentsOfFile: TestSupport.root + "/docs/handheld.md", encoding: .utf8)
        let example = try #require(text.range(of: "\"key\" : \"")).upperBound
        let key = String(text[example...].prefix { $0 != "\"" })
        #expect(Data(base64Encoded: key).map { Self.hexText(Array($0)) } == vectors[0].deviceKeyHex)
    }

    @Test func theClaimReadsBack() throws {
        let v = try Self.vectors()[0]
        let claim = try Self.claim(v)
        #expect(claim.issuedAt == TimeParser.parse("2026-03-14T09:30:00Z"))
        #expect(claim.tbnrText == "141312")
        #expect(claim.amountCents == 2500)
        #expect(!claim.isStock)
        let stock = try Self.claim(try Self.vectors()[1])
        #expect(stock.isStock && stock.issuedAt == nil && stock.tbnrText == nil)
        // fields that do not fit their bytes are refused, not wrapped
        #expect(TicketClaim.ticket(keyID: 1, deviceNumber: 1, generation: 1, ticketNumber: 1, issuedAt: 0, tbnr: "141312", amountCents: 1) == nil)
        #expect(
            TicketClaim.ticket(keyID: 1, deviceNumber: 1, generation: 1, ticketNumber: 1, issuedAt: 1_800_000_000, tbnr: "141312", amountCents: 70000)
                == nil
        )
        #expect(
            TicketClaim.ticket(keyID: 1, deviceNumber: 1, generation: 1, ticketNumber: 1, issuedAt: 1_800_000_000, tbnr: "14131", amountCents: 100)
                == nil
        )
    }

    /// Every one-bit change of the 34 bytes, a token under another signing key, another device's key, an unknown
    /// key id, device number or generation 0, and a version 1 token are all refused.
    @Test func forgedAndAlteredTokensAreRefused() throws {
        let v = try Self.vectors()[0]
        let server = Self.ring(id: v.keyID, secret: v.signingKey)
        let bytes = try #require(Base32.decode(v.token))
        for bit in 0..<(bytes.count * 8) {
            var altered = bytes
            altered[bit / 8] ^= UInt8(1 << (bit % 8))
            #expect(server.verifyTicket(Base32.encode(altered)) == nil, "bit \(bit)")
        }
        let claim = try Self.claim(v)
        let otherSigningKey = DeviceKey.derive(signingKey: Array(repeating: 7, count: 32), number: 7, generation: 1)
        #expect(server.verifyTicket(TicketTokens.make(claim, deviceKey: otherSigningKey)) == nil)
        var otherDevice = claim
        otherDevice.deviceNumber = 8
        let deviceSeven = DeviceKey.derive(signingKey: v.signingKey, number: 7, generation: 1)
        #expect(server.verifyTicket(TicketTokens.make(otherDevice, deviceKey: deviceSeven)) == nil)
        var unknownKey = claim
        unknownKey.keyID = 200
        #expect(server.verifyTicket(TicketTokens.make(unknownKey, deviceKey: deviceSeven)) == nil)
        var zero = claim
        zero.deviceNumber = 0
        #expect(server.verifyTicket(TicketTokens.make(zero, deviceKey: DeviceKey.derive(signingKey: v.signingKey, number: 0, generation: 1))) == nil)
        #expect(server.verifyTicket(server.token(caseID: 4711)) == nil)
        #expect(server.verify(v.token) == nil)
        #expect(server.verifyTicket("") == nil && server.verifyTicket(String(v.token.dropLast())) == nil)
    }

    /// With a base URL of 30 characters the URL of a version 2 token is QR version 4 at level M, and decodes back.
    @Test func aThirtyCharacterBaseURLGivesVersionFourAtLevelM() throws {
        let base = "https://bussgeld.example-ci.de"
        #expect(base.count == 30)
        let v = try Self.vectors()[2]
        let url = TicketTokens.url(base: base, token: v.token)
        #expect(url.count == 88)
        let code = try QRCode(url, level: .M)
        #expect(code.version <= 4)
        let path = TestSupport.tempDir("lotse-ticket-qr") + "/ticket.png"
        try Data(code.png()).write(to: URL(fileURLWithPath: path))
        #expect(try TestSupport.zbarimg(path) == [url])
    }

    @Test func theKeyFileIsPrivateAndReadsBack() throws {
        let v = try Self.vectors()[0]
        let path = TestSupport.tempDir("lotse-device-key") + "/hh-07.json"
        let file = DeviceKeyFile(
            deviceID: "HH-07",
            number: 7,
            generation: 1,
            keyID: 1,
            key: DeviceKey.derive(signingKey: v.signingKey, number: 7, generation: 1),
            baseURL: "https://bussgeld.example-city.de"
        )
        try file.write(to: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try DeviceKeyFile.read(from: path) == file)
        #expect(file.baseURL == "HTTPS://BUSSGELD.EXAMPLE-CITY.DE")
        #expect(throws: LotseError.self) { try file.write(to: path) }
        let json = try String(contentsOfFile: path, encoding: .utf8)
        for key in ["device_id", "number", "generation", "key_id", "key", "base_url"] { #expect(json.contains("\"\(key)\"")) }
    }
}
