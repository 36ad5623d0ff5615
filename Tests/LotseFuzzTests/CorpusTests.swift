import Foundation
import LotseCore
import LotseFuzzTargets
import LotseTestSupport
import Testing

/// The fuzz targets in CI: every saved input (the samples, and every crash found so far in `Tests/Corpus`)
/// and seeded mutations of them go through the same code and invariants as `make fuzz`.
@Suite(.serialized) struct CorpusTests {
    static let corpus = TestSupport.root + "/Tests/Corpus"

    /// The samples that seed each target (as `make fuzz` seeds it), and the saved inputs.
    static func inputs(_ target: FuzzTarget) -> [String] {
        let samples = TestSupport.pilotData + "/samples"
        let prefix: [FuzzTarget: String] = [.csv: "handheld-", .winowig: "winowig-", .xowi: "xowi-", .camt: "camt"]
        var files: [String] = []
        if let prefix = prefix[target] {
            files += ((try? FileManager.default.contentsOfDirectory(atPath: samples)) ?? [])
                .filter { $0.hasPrefix(prefix) }.map { samples + "/" + $0 }
        }
        let saved = corpus + "/" + target.rawValue
        files += ((try? FileManager.default.contentsOfDirectory(atPath: saved)) ?? [])
            .filter { !$0.hasPrefix(".") }.map { saved + "/" + $0 }
        return files.sorted()
    }

    @Test(arguments: FuzzTarget.allCases)
    func savedInputsKeepEveryInvariant(_ target: FuzzTarget) throws {
        let context = try FuzzContext(catalogue: TestSupport.cataloguePath)
        let files = Self.inputs(target)
        #expect(!files.isEmpty, "no corpus for \(target)")
        for file in files {
            let data = try #require(FileManager.default.contents(atPath: file))
            #expect(throws: Never.self, "\(file)") { try context.run(target, [UInt8](data)) }
        }
    }

    /// A bounded, repeatable stand-in for the fuzzer: truncations, flipped bytes, inserted quotes,
    /// separators, line ends and invalid UTF-8 in every saved input.
    @Test(arguments: FuzzTarget.allCases)
    func seededMutationsKeepEveryInvariant(_ target: FuzzTarget) throws {
        let context = try FuzzContext(catalogue: TestSupport.cataloguePath)
        var random = SeededRandom(seed: 0x10_75E + UInt64(target.rawValue.utf8.count))
        for file in Self.inputs(target) {
            let original = [UInt8](try #require(FileManager.default.contents(atPath: file)))
            for _ in 0..<40 {
                let mutant = Self.mutate(original, &random)
                #expect(throws: Never.self, "\(file) mutated") { try context.run(target, mutant) }
            }
        }
    }

    static let interesting: [[UInt8]] = [
        Array("\"".utf8), Array(";".utf8), Array("\r".utf8), Array("\n".utf8), Array("\r\n".utf8), [0], [0xFF], [0xC3],
        [0xA0], [0xC2, 0xA0], Array("<".utf8), Array("&amp;".utf8), Array("=".utf8), Array("999999999999".utf8),
    ]

    static func mutate(_ input: [UInt8], _ random: inout SeededRandom) -> [UInt8] {
        var bytes = input
        for _ in 0..<random.int(1...4) {
            let at = bytes.isEmpty ? 0 : random.int(0...(bytes.count - 1))
            switch random.int(0...3) {
            case 0:
                bytes = Array(bytes.prefix(at))
            case 1 where !bytes.isEmpty:
                bytes[at] ^= UInt8(1 << random.int(0...7))
            case 2:
                bytes.insert(contentsOf: random.pick(interesting), at: at)
            default:
                if !bytes.isEmpty { bytes.remove(at: at) }
            }
        }
        return bytes
    }
}
