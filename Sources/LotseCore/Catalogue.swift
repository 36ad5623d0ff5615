import Foundation

/// One offence of the federal catalogue (Tatbestandskatalog).
public struct Offence: Sendable, Hashable {
    public var tbnr: String
    public var textDE: String
    public var amountCents: Int
    public var points: Int
    public init(tbnr: String, textDE: String, amountCents: Int, points: Int) {
        self.tbnr = tbnr
        self.textDE = textDE
        self.amountCents = amountCents
        self.points = points
    }
}

/// The offence catalogue, loaded from `pilot-data/tbnr-parking.csv` (`;`-separated, `#` comments).
public struct Catalogue: Sendable {
    /// Amounts above this are a Bußgeld, not a Verwarnungsgeld (§ 56 OWiG), and are not offered for payment.
    public static let warningFineCeilingCents = 5500

    public private(set) var offences: [String: Offence] = [:]
    public private(set) var source: [String] = []

    public init(offences: [Offence]) {
        for o in offences { self.offences[o.tbnr] = o }
    }

    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LotseError.io("\(path): cannot read the offence catalogue")
        }
        try self.init(text: String(decoding: data, as: UTF8.self), path: path)
    }

    public init(text: String, path: String = "catalogue") throws {
        var header = true
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(rawLine).trimmingSpaces()
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                source.append(line)
                continue
            }
            if header {
                header = false
                continue
            }
            let f = line.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 3, f[0].count == 6, f[0].allSatisfy(\.isNumber), let cents = Money.parseCents(f[2]) else {
                throw LotseError.input("\(path):\(index + 1): catalogue line does not parse")
            }
            let points = f.count > 3 ? Int(f[3]) ?? 0 : 0
            offences[f[0]] = Offence(tbnr: f[0], textDE: f[1], amountCents: cents, points: points)
        }
        if offences.isEmpty { throw LotseError.input("\(path): the offence catalogue is empty") }
    }

    public subscript(tbnr: String) -> Offence? { offences[tbnr] }
}
