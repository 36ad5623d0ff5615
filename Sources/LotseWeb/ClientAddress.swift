import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 network (`10.0.0.0/8`, `fd00::/8`, or one address). IPv4-mapped IPv6 addresses
/// (`::ffff:10.1.2.3`) are taken as the IPv4 address they carry.
struct IPNetwork: Sendable, Equatable {
    let address: [UInt8]
    let prefixLength: Int

    init?(cidr text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPNetwork.parse(String(parts[0])) else { return nil }
        // a mapped IPv4 network written as IPv6 (`::ffff:10.0.0.0/104`) counts its prefix from bit 96
        let mapped = parts[0].contains(":") && address.count == 4
        var prefix = address.count * 8
        if parts.count == 2 {
            guard let p = Int(parts[1]), p >= (mapped ? 96 : 0), p <= (mapped ? 128 : prefix) else { return nil }
            prefix = mapped ? p - 96 : p
        }
        self.address = address
        prefixLength = prefix
    }

    /// The bytes of an address (4 for IPv4, 16 for IPv6), nil for anything else.
    static func parse(_ text: String) -> [UInt8]? {
        let t = text.trimmingCharacters(in: .whitespaces)
        var v4 = in_addr()
        if inet_pton(AF_INET, t, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, t, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF { return Array(bytes[12..<16]) }
        return bytes
    }

    func contains(_ other: [UInt8]) -> Bool {
        guard other.count == address.count else { return false }
        var left = prefixLength
        for i in 0..<address.count where left > 0 {
            let bits = min(8, left)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if address[i] & mask != other[i] & mask { return false }
            left -= bits
        }
        return true
    }
}

/// Who the client is, for rate limits and throttles (never stored, never logged). The socket's
/// address, unless it is one of `LOTSE_TRUSTED_PROXIES`: then `X-Forwarded-For` is read from the right,
/// and the first address that is not a trusted proxy is the client (what the outermost trusted proxy saw;
/// anything further left was written by the client and is ignored).
struct TrustedProxies: Sendable {
    let networks: [IPNetwork]

    /// Throws on a CIDR that cannot be read (a typo must not silently trust nobody, or everybody).
    init(_ cidrs: [String]) throws {
        networks = try cidrs.map { text in
            guard let n = IPNetwork(cidr: text) else { throw InvalidCIDR(text: text) }
            return n
        }
    }

    struct InvalidCIDR: Error { let text: String }

    func isTrusted(_ address: [UInt8]) -> Bool { networks.contains { $0.contains(address) } }

    /// `socket`: the peer's address as text; `forwardedFor`: every `X-Forwarded-For` field, in order.
    func client(socket: String?, forwardedFor: [String]) -> String {
        guard let socket else { return "unknown" }
        guard !networks.isEmpty, let peer = IPNetwork.parse(socket), isTrusted(peer) else { return socket }
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        var client = socket
        for hop in hops.reversed() where !hop.isEmpty {
            guard let bytes = IPNetwork.parse(hop) else {
                // not an address (`unknown`, an obfuscated name): still one client, known by what was written
                return String(hop.prefix(64))
            }
            client = Self.text(bytes)
            if !isTrusted(bytes) { return client }
        }
        return client
    }

    /// One spelling per address (so that `::ffff:1.2.3.4` and `1.2.3.4` are one client).
    static func text(_ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        let ok = bytes.withUnsafeBytes { raw in inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) } != nil
        return ok ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "unknown"
    }

    func client(_ request: Request, _ context: LotseContext) -> String {
        client(socket: context.remoteAddress?.ipAddress, forwardedFor: request.headers[values: .xForwardedFor])
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
}
