import Foundation
import LotseCore

#if canImport(FoundationXML)
import FoundationXML
#endif

/// The camt message types and versions Lotse reads (formats §4), told apart by namespace.
public enum CamtKind: String, Sendable, Codable {
    case camt054v02 = "camt.054.001.02"
    case camt054v08 = "camt.054.001.08"
    case camt053v02 = "camt.053.001.02"
    case camt053v08 = "camt.053.001.08"

    static let namespacePrefix = "urn:iso:std:iso:20022:tech:xsd:"

    init?(namespace: String?) {
        guard let ns = namespace, ns.hasPrefix(Self.namespacePrefix) else { return nil }
        self.init(rawValue: String(ns.dropFirst(Self.namespacePrefix.count)))
    }

    var rootElement: String { rawValue.hasPrefix("camt.054") ? "BkToCstmrDbtCdtNtfctn" : "BkToCstmrStmt" }
}

/// One transaction inside an entry (`NtryDtls/TxDtls`).
public struct CamtTransaction: Sendable, Equatable {
    public var amountCents: Int?
    public var currency: String?
    public var creditDebit: String?
    public var bankRef: String?
    public var endToEndID: String?
    public var debtorName: String?
    public var debtorIBAN: String?
    public var structuredRef: String?
    public var unstructured: [String] = []
}

/// One booking entry (`Ntry`), with the line it starts on.
public struct CamtEntry: Sendable, Equatable {
    public var line: Int
    public var amountCents: Int?
    public var amountText: String = ""
    public var currency: String?
    public var creditDebit: String?
    public var status: String?
    public var bookingDate: String?
    public var bankRef: String?
    public var batchCount: Int?
    public var batchTotalCents: Int?
    public var transactions: [CamtTransaction] = []
}

/// Streams a camt.054/camt.053 file through the SAX parser and hands over one entry at a time.
/// Never loads the file whole; a file that is not well-formed camt throws after the entries it
/// already handed over (the caller's transaction then rolls back).
final class CamtParser: NSObject, XMLParserDelegate {
    let path: String
    let onEntry: (CamtEntry) throws -> Void
    private(set) var kind: CamtKind?
    var callbackError: Error?
    private var formatError: String?
    private var stack: [String] = []
    private var text = ""
    private var entry: CamtEntry?
    private var tx: CamtTransaction?
    private var currencyAttr: String?

    init(path: String, onEntry: @escaping (CamtEntry) throws -> Void) {
        self.path = path
        self.onEntry = onEntry
    }

    func run() throws {
        let (parser, ok) = try XMLStream.parse(path: path, delegate: self)
        if let e = callbackError { throw e }
        if let m = formatError { throw LotseError.input(m) }
        if !ok {
            throw LotseError.input("\(path):\(max(parser.lineNumber, 1)): not well-formed XML, nothing was reconciled (\(XMLStream.reason(parser)))")
        }
        guard kind != nil else { throw LotseError.input("\(path):1: not a camt.054 or camt.053 file") }
        if let open = stack.last {
            throw LotseError.input("\(path):\(max(parser.lineNumber, 1)): the file ends inside <\(open)> (truncated?); nothing was reconciled")
        }
    }

    /// The longest text one element may hold: camt fields are at most 140 characters (`Ustrd`); a huge
    /// field is hostile and is never kept in memory.
    static let maxFieldLength = 10_000
    /// The most transactions one entry may list (a batch credit of a city has hundreds, not millions).
    static let maxTransactionsPerEntry = 100_000

    private func stop(_ parser: XMLParser, _ message: String) {
        if formatError == nil { formatError = message }
        parser.abortParsing()
    }

    /// A name or namespace from the file, short and on one line, for an error message.
    static func shown(_ s: String?) -> String {
        guard let s else { return "none" }
        let flat = String(s.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : Character($0) })
        return flat.count > 60 ? String(flat.prefix(60)) + "…" : flat
    }

    func parser(
        _ parser: XMLParser,
        didStartElement name: String,
        namespaceURI: String?,
        qualifiedName: String?,
        attributes attrs: [String: String] = [:]
    ) {
        if stack.isEmpty {
            guard name == "Document", let k = CamtKind(namespace: namespaceURI) else {
                stop(
                    parser,
                    "\(path):\(parser.lineNumber): not a camt.054 or camt.053 file of version 02 or 08 (root <\(Self.shown(name))> in namespace \(Self.shown(namespaceURI)))"
                )
                return
            }
            kind = k
        } else if stack.count == 1, let k = kind, name != k.rootElement {
            stop(parser, "\(path):\(parser.lineNumber): <\(Self.shown(name))> where a \(k.rawValue) file has <\(k.rootElement)>")
            return
        }
        if name == "Ntry", entry != nil {
            stop(parser, "\(path):\(parser.lineNumber): an entry <Ntry> inside another entry; nothing was reconciled")
            return
        }
        if name == "TxDtls", tx != nil {
            stop(parser, "\(path):\(parser.lineNumber): a transaction <TxDtls> inside another transaction; nothing was reconciled")
            return
        }
        stack.append(name)
        text = ""
        currencyAttr = attrs["Ccy"]
        if name == "Ntry" {
            entry = CamtEntry(line: parser.lineNumber)
        } else if name == "TxDtls", entry != nil {
            guard entry!.transactions.count < Self.maxTransactionsPerEntry else {
                stop(
                    parser,
                    "\(path):\(parser.lineNumber): an entry with more than \(Self.maxTransactionsPerEntry) transactions; nothing was reconciled"
                )
                return
            }
            tx = CamtTransaction()
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        guard entry != nil else { return }
        text += string
        if text.utf8.count > Self.maxFieldLength {
            stop(
                parser,
                "\(path):\(parser.lineNumber): a field longer than \(Self.maxFieldLength) characters in <\(Self.shown(stack.last))>; nothing was reconciled"
            )
            text = ""
        }
    }

    private func parent(_ k: Int) -> String { stack.count > k ? stack[stack.count - 1 - k] : "" }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        defer {
            if !stack.isEmpty { stack.removeLast() }
            text = ""
        }
        guard entry != nil, callbackError == nil else { return }
        let value = text.trimmingSpaces()
        let p1 = parent(1)
        let p2 = parent(2)
        if tx != nil {
            switch name {
            case "TxDtls":
                entry!.transactions.append(tx!)
                tx = nil
            case "Amt":
                // v08: TxDtls/Amt; v02: TxDtls/AmtDtls/TxAmt/Amt
                if p1 == "TxDtls" || (p1 == "TxAmt" && p2 == "AmtDtls" && tx!.amountCents == nil) {
                    tx!.amountCents = Money.parseCents(value) ?? -1
                    tx!.currency = currencyAttr
                }
            case "CdtDbtInd": if p1 == "TxDtls" { tx!.creditDebit = value }
            case "AcctSvcrRef": if p1 == "Refs" { tx!.bankRef = value }
            case "EndToEndId": if p1 == "Refs" { tx!.endToEndID = value }
            case "Nm":
                // v02: RltdPties/Dbtr/Nm; v08: RltdPties/Dbtr/Pty/Nm
                if (p1 == "Dbtr" && p2 == "RltdPties") || (p1 == "Pty" && p2 == "Dbtr") { tx!.debtorName = value }
            case "IBAN": if stack.contains("DbtrAcct") { tx!.debtorIBAN = value }
            case "Ref": if p1 == "CdtrRefInf" { tx!.structuredRef = value }
            case "Ustrd": if p1 == "RmtInf" { tx!.unstructured.append(value) }
            default: break
            }
            return
        }
        switch name {
        case "Ntry":
            let e = entry!
            entry = nil
            do { try onEntry(e) } catch {
                callbackError = error
                parser.abortParsing()
            }
        case "Amt":
            if p1 == "Ntry" {
                entry!.amountText = value
                entry!.amountCents = Money.parseCents(value) ?? -1
                entry!.currency = currencyAttr
            }
        case "CdtDbtInd": if p1 == "Ntry" { entry!.creditDebit = value }
        case "Sts": if p1 == "Ntry", !value.isEmpty { entry!.status = value }  // v02
        case "Cd": if p1 == "Sts" && p2 == "Ntry" { entry!.status = value }  // v08
        case "Dt", "DtTm": if p1 == "BookgDt" && entry!.bookingDate == nil { entry!.bookingDate = value }
        case "AcctSvcrRef": if p1 == "Ntry" { entry!.bankRef = value }
        case "NbOfTxs": if p1 == "Btch" { entry!.batchCount = Int(value) ?? -1 }
        case "TtlAmt": if p1 == "Btch" { entry!.batchTotalCents = Money.parseCents(value) ?? -1 }
        default: break
        }
    }
}
