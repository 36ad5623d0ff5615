import Foundation
import LotseQR
import LotseTestSupport
import Testing

@Suite struct QRTests {
    // A 29-character public base URL plus /T/ and a 36-character token.
    let url = "HTTPS://BUSSGELD.KAISERSLAUTERN.DE".prefix(29) + "/T/AEAQAAAAAG6ETBDUPU2AHUZ5UWR4T3WBM4RQ"

    @Test func caseURLFitsVersion4AtLevelM() throws {
        #expect(url.count == 29 + 3 + 36)
        let code = try QRCode(String(url), level: .M)
        #expect(code.version <= 4)
        #expect(code.width <= 33)
    }

    @Test func caseSensitiveInputIsKept() throws {
        let path = TestSupport.tempDir() + "/lower.png"
        TestSupport.write(path, bytes: try QRCode("https://example.org/t/abc", level: .M).png())
        #expect(try TestSupport.zbarimg(path) == ["https://example.org/t/abc"])
    }

    @Test func svgIsOnePathWithQuietZone() throws {
        let code = try QRCode(String(url))
        let svg = String(decoding: code.svg(), as: UTF8.self)
        #expect(svg.components(separatedBy: "<path").count == 2)
        #expect(svg.contains("shape-rendering=\"crispEdges\""))
        let size = code.width + 8
        #expect(svg.contains("viewBox=\"0 0 \(size) \(size)\""))
        // the top-left finder pattern starts at the quiet zone
        #expect(svg.contains("M4 4h7v1h-7z"))
    }

    @Test func pngDecodesWithZbar() throws {
        let dir = TestSupport.tempDir()
        for size in [3, 8] {
            let path = dir + "/code\(size).png"
            TestSupport.write(path, bytes: try QRCode(String(url)).png(moduleSize: size))
            #expect(try TestSupport.zbarimg(path) == [String(url)])
        }
    }

    @Test func tooLongInputFails() {
        #expect(throws: QRCode.Failure.self) { try QRCode(String(repeating: "x", count: 8000)) }
    }
}

@Suite struct QRBytesTests {
    @Test func epcPayloadInByteModeDecodes() throws {
        let payload =
            "BCD\n002\n1\nSCT\nCOBADEFFXXX\nStadtkasse Kaiserslautern (DEMO)\nDE89370400440532013000\nEUR35.00\n\nRF71KL20260000001\n\nVerwarnungsgeld KL-2026-0000001"
        let dir = TestSupport.tempDir()
        let code = try QRCode(bytes: Array(payload.utf8), level: .M)
        TestSupport.write(dir + "/epc.png", bytes: code.png(moduleSize: 4))
        TestSupport.write(dir + "/epc.svg", bytes: code.svg(moduleSize: 4))
        #expect(try TestSupport.zbarimg(dir + "/epc.png") == [payload])
        // (zbarimg's ImageMagick SVG reader cannot rasterise paths this long; browsers can. The PNG is the same symbol.)
        #expect(String(decoding: code.svg(), as: UTF8.self).components(separatedBy: "<path").count == 2)
    }
}
