import Foundation
import LotseTestSupport
import LotseTokens
import Synchronization
import Testing

@Suite struct TokenTests {
    @Test func base32MatchesRFC4648() {
        #expect(Base32.encode(Array("foobar".utf8)) == "MZXW6YTBOI")
        #expect(Base32.encode(Array("f".utf8)) == "MY")
        #expect(Base32.decode("MZXW6YTBOI") == Array("foobar".utf8))
        #expect(Base32.decode("mzxw6ytboi") == Array("foobar".utf8))
        #expect(Base32.decode("MZXW6YTBO1") == nil)
    }

    @Test func tokenRoundTripAndKeyFileMode() throws {
        let dir = TestSupport.tempDir()
        let ring = try KeyRing.loadOrCreate(dataDir: dir)
        let attrs = try FileManager.default.attributesOfItem(atPath: KeyRing.path(dataDir: dir))
        #expect((attrs[.posixPermissions] as? Int) == 0o600)
        let tokens = CaseTokens(ring: ring)
        let t = tokens.token(caseID: 4711)
        #expect(t.count == 36)
        #expect(t.allSatisfy { ("A"..."Z").contains($0) || ("2"..."7").contains($0) })
        #expect(tokens.verify(t) == 4711)
        #expect(tokens.verify(t.lowercased()) == 4711)
        // the same ring loaded again verifies too
        #expect(CaseTokens(ring: try KeyRing.loadOrCreate(dataDir: dir)).verify(t) == 4711)
    }

    @Test func everyAlteredCharacterIsRefused() throws {
        let tokens = CaseTokens(ring: try KeyRing.loadOrCreate(dataDir: TestSupport.tempDir()))
        let t = Array(tokens.token(caseID: 42))
        for i in t.indices {
            var forged = t
            forged[i] = forged[i] == "A" ? "B" : "A"
            #expect(tokens.verify(String(forged)) == nil, "position \(i)")
        }
        #expect(tokens.verify("") == nil)
        #expect(tokens.verify(String(t.dropLast())) == nil)
        #expect(tokens.verify(String(t) + "A") == nil)
    }

    @Test func anotherKeyRingCannotForge() throws {
        let a = CaseTokens(ring: try KeyRing.loadOrCreate(dataDir: TestSupport.tempDir()))
        let b = CaseTokens(ring: try KeyRing.loadOrCreate(dataDir: TestSupport.tempDir()))
        #expect(b.verify(a.token(caseID: 7)) == nil)
    }

    @Test func rotationKeepsOldTokensValid() throws {
        let dir = TestSupport.tempDir()
        let old = CaseTokens(ring: try KeyRing.loadOrCreate(dataDir: dir)).token(caseID: 99)
        let rotated = try KeyRing.rotate(dataDir: dir)
        #expect(rotated.current.id == 2)
        let tokens = CaseTokens(ring: try KeyRing.loadOrCreate(dataDir: dir))
        let new = tokens.token(caseID: 99)
        #expect(new != old)
        #expect(tokens.verify(old) == 99)
        #expect(tokens.verify(new) == 99)
    }

    @Test func concurrentRotationsInOneProcessLoseNoKey() throws {
        let dir = TestSupport.tempDir()
        _ = try KeyRing.loadOrCreate(dataDir: dir)
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<5 {
                do { _ = try KeyRing.rotate(dataDir: dir) } catch { failures.withLock { $0 += 1 } }
            }
        }
        #expect(failures.withLock { $0 } == 0)
        let ring = try KeyRing.loadOrCreate(dataDir: dir)
        #expect(ring.keys.count == 41 && ring.current.id == 41)
        #expect(Set(ring.keys.map(\.id)).count == 41)
    }

    @Test func tokensFollowTheKeyFile() throws {
        let dir = TestSupport.tempDir()
        let serving = try CaseTokens(dataDir: dir)
        #expect(try serving.reloadIfChanged() == false)
        // another process rotates
        _ = try KeyRing.rotate(dataDir: dir)
        let printed = CaseTokens(ring: try KeyRing.loadOrCreate(dataDir: dir)).token(caseID: 5)
        #expect(serving.verify(printed) == nil)
        #expect(try serving.reloadIfChanged() == true)
        #expect(serving.verify(printed) == 5)
        #expect(serving.ring.current.id == 2)
        #expect(try serving.reloadIfChanged() == false)
        let attrs = try FileManager.default.attributesOfItem(atPath: KeyRing.path(dataDir: dir))
        #expect((attrs[.posixPermissions] as? Int) == 0o600)
    }
}
