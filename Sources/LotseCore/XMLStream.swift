import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Streams an XML file through a SAX delegate (handheld exports, camt statements): namespaces
/// resolved, external entities never loaded, the file never read whole.
public enum XMLStream {
    /// Parses `path` with `delegate`; returns the parser (line number, error) and whether it got to the end without error.
    public static func parse(path: String, delegate: any XMLParserDelegate) throws -> (parser: XMLParser, ok: Bool) {
        guard let stream = InputStream(fileAtPath: path) else { throw LotseError.input("\(path): cannot open") }
        let parser = XMLParser(stream: stream)
        parser.shouldProcessNamespaces = true
        parser.shouldResolveExternalEntities = false
        parser.delegate = delegate
        return (parser, parser.parse())
    }

    /// libxml2's reason for stopping, for the one-line error.
    public static func reason(_ parser: XMLParser) -> String {
        parser.parserError.map { ($0 as NSError).localizedDescription } ?? "parse error"
    }
}
