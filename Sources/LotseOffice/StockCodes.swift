import Foundation
import LotseCore
import LotseQR
import LotseStorage
import LotseTokens

/// Codes for ticket stock printed in advance (formats §2b): one version 2 stock code per ticket number of an
/// enrolled device, signing only the device and the number, with `manifest.csv` (`ticket_no;url;file`).
public struct StockCodes: Sendable {
    public struct Result: Sendable {
        public var written: Int
        public var manifest: String
        public var maxVersion: Int
    }

    /// More codes than this in one run is a typo, not a print job.
    public static let maxCount = 100_000

    public let store: Store
    public let tokens: CaseTokens
    public let baseURL: String

    public init(store: Store, tokens: CaseTokens, baseURL: String) {
        self.store = store
        self.tokens = tokens
        self.baseURL = baseURL
    }

    public func write(
        deviceID: String,
        from first: UInt32,
        count: Int,
        outDir: String,
        format: QRBatch.Format,
        moduleSize: Int? = nil
    ) throws -> Result {
        guard (1...Self.maxCount).contains(count) else { throw LotseError.usage("--count must be 1 to \(Self.maxCount)") }
        guard UInt64(first) + UInt64(count) - 1 <= UInt64(UInt32.max) else {
            throw LotseError.usage("ticket numbers must stay below \(UInt32.max)")
        }
        guard let device = try store.devices().last(where: { $0.deviceID == deviceID }), device.revokedAt == nil else {
            throw LotseError.input("device \(deviceID) is not enrolled (or its key is revoked): lotse devices add \(deviceID)")
        }
        guard
            let key = tokens.deviceKey(number: UInt16(device.number), generation: UInt8(device.generation), keyID: UInt8(device.keyID))
        else { throw LotseError.io("signing key \(device.keyID) of device \(deviceID) is missing from the key ring") }
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        let prefix = CaseNumber.compact(deviceID)
        var manifest = Array("ticket_no;url;file\n".utf8)
        var maxVersion = 0
        for offset in 0..<count {
            let number = first + UInt32(offset)
            let claim = TicketClaim.stock(
                keyID: key.keyID,
                deviceNumber: UInt16(device.number),
                generation: UInt8(device.generation),
                ticketNumber: number
            )
            let url = TicketTokens.url(base: baseURL, token: TicketTokens.make(claim, deviceKey: key.key))
            let code = try QRCode(url, level: .M)
            maxVersion = max(maxVersion, code.version)
            let file = "\(prefix)-\(number).\(format.rawValue)"
            let bytes = format == .svg ? code.svg(moduleSize: moduleSize ?? 4) : code.png(moduleSize: moduleSize ?? 8)
            guard QRBatch.writeFile(outDir + "/" + file, bytes) else { throw LotseError.io("\(outDir)/\(file): cannot write") }
            CSVWriter.appendRow(&manifest, [String(number), url, file])
        }
        let manifestPath = outDir + "/manifest.csv"
        guard QRBatch.writeFile(manifestPath, manifest) else { throw LotseError.io("\(manifestPath): cannot write") }
        return Result(written: count, manifest: manifestPath, maxVersion: maxVersion)
    }
}
