import CLotseZlib
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// gzip (RFC 1952) through zlib, for pages and the stylesheet when the client accepts it (issue 16).
enum Gzip {
    /// `bytes` compressed at `level` (1 fast … 9 small); nil if zlib fails (the caller then sends them as they are).
    static func compress(_ bytes: ByteBuffer, level: Int32 = 1) -> ByteBuffer? {
        var stream = z_stream()
        // windowBits 15 + 16: a gzip header and trailer instead of zlib's
        guard deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else { return nil }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, UInt(bytes.readableBytes)))
        var output = ByteBuffer()
        output.reserveCapacity(bound)
        let status: Int32 = bytes.withUnsafeReadableBytes { input in
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
                stream.avail_in = uInt(input.count)
                stream.next_out = out.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(out.count)
                let result = deflate(&stream, Z_FINISH)
                return result == Z_STREAM_END ? Int(stream.total_out) : 0
            } > 0 ? Z_STREAM_END : Z_STREAM_ERROR
        }
        return status == Z_STREAM_END ? output : nil
    }

    /// Whether the request's `Accept-Encoding` takes gzip (`gzip`, `gzip;q=0.5`, `*`; not `gzip;q=0`).
    static func accepted(_ headers: HTTPFields) -> Bool {
        guard let value = headers[.acceptEncoding]?.lowercased() else { return false }
        for item in value.split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let coding = parts.first, coding == "gzip" || coding == "x-gzip" || coding == "*" else { continue }
            let q = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            if q > 0 { return true }
        }
        return false
    }

    /// Pages smaller than this are sent as they are (the header costs more than it saves).
    static let threshold = 1024
}

extension HTML {
    /// The page compressed with gzip when the request accepts it (`Content-Encoding: gzip`), else as it is; either way
    /// `Vary: Accept-Encoding`, so that a cache keeps the two apart.
    func encoded(for request: Request) -> HTML {
        var page = self
        // the motorist's pages name it already (`pageHeaders`): no string is built on the case page's path
        if let vary = page.headers[.vary] {
            if !vary.hasSuffix("Accept-Encoding") { page.headers[.vary] = vary + ", Accept-Encoding" }
        } else {
            page.headers[.vary] = "Accept-Encoding"
        }
        guard body.readableBytes >= Gzip.threshold, Gzip.accepted(request.headers), let compressed = Gzip.compress(body) else { return page }
        page.body = compressed
        page.headers[.contentEncoding] = "gzip"
        return page
    }
}

/// The stylesheet and the logo gzip-compressed once at start-up (level 9), served so when the client accepts gzip,
/// with the caching of the other static files (a day, then revalidated by `ETag`); other clients get the file from
/// `FileMiddleware` as before. A changed file is served after the next start.
struct CompressedAssetsMiddleware<Context: RequestContext>: RouterMiddleware {
    struct Asset: Sendable {
        let body: ByteBuffer
        let type: String
        let etag: String
    }

    let assets: [String: Asset]

    init(publicDir: String, files: [(name: String, type: String)] = [("style.css", "text/css; charset=utf-8"), ("logo.svg", "image/svg+xml")]) {
        var assets: [String: Asset] = [:]
        for (name, type) in files {
            guard let data = FileManager.default.contents(atPath: publicDir + "/" + name),
                let compressed = Gzip.compress(ByteBuffer(bytes: data), level: 9)
            else { continue }
            let digest = SHA256.hash(data: data).prefix(12).map { String(format: "%02x", $0) }.joined()
            assets["/" + name] = Asset(body: compressed, type: type, etag: "\"gz-" + digest + "\"")
        }
        self.assets = assets
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .get || request.method == .head, let asset = assets[request.uri.path], Gzip.accepted(request.headers) else {
            return try await next(request, context)
        }
        var headers: HTTPFields = [
            .contentType: asset.type, .contentEncoding: "gzip", .vary: "Accept-Encoding", .cacheControl: "public, max-age=86400",
            .eTag: asset.etag,
        ]
        if let match = request.headers[.ifNoneMatch],
            match.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == asset.etag })
        {
            headers[.contentEncoding] = nil
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentLength] = String(asset.body.readableBytes)
        return Response(status: .ok, headers: headers, body: request.method == .head ? .init() : .init(byteBuffer: asset.body))
    }
}
