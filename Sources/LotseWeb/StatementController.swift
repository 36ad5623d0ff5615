import Foundation
import HTTPTypes
import Hummingbird
import LotseCore
import LotseStorage
import NIOCore
import NIOPosix

/// A motorist's statement on a case (`/T/{token}/statement`): a ground (not the driver, a valid ticket or permit, an
/// emergency, other), a text and up to three pictures or PDFs, stored privately, then a confirmation with a receipt
/// number; the case is held out of the dunning until the office decides it (`/office/statements`).
extension MotoristController {
    static let statementFileLimit = 5 << 20
    static let statementMaxFiles = 3

    func registerStatements(on router: Router<LotseContext>) {
        for prefix in ["T", "t"] {
            router.get("/\(prefix)/:token/statement") { req, ctx in try await statementForm(req, ctx) }
            router.post("/\(prefix)/:token/statement") { req, ctx in try await submitStatement(req, ctx) }
        }
    }

    func statementForm(_ req: Request, _ context: LotseContext, message: String? = nil, status: HTTPResponse.Status = .ok) async throws -> HTML {
        guard let c = try await verifiedCase(context, cached: false), c.erasedAt == nil else { return try notFound(req) }
        let (lang, remember) = language(req)
        let form = form(req, action: req.uri.path)
        let csrf = form.cookie
        var ctx = base(lang, path: req.uri.path)
        ctx["title"] = env.translations.text("statement_title", lang) + " " + c.caseNumber
        ctx["number"] = c.caseNumber
        ctx["action"] = req.uri.path + "?csrf=" + form.value + "&lang=" + lang
        ctx["back"] = caseLocation(c.id, lang: lang)
        // after sending: the confirmation with its receipt number (only a statement of this case)
        if let id = req.uri.queryParameters.get("received").flatMap({ Int64($0) }), let s = try await env.store.statement(id: id), s.caseID == c.id {
            let t = env.translations
            ctx["received"] = [
                "number": Self.statementNumber(s.id),
                "ground": s.ground.map { t.text("statement_ground_" + $0.rawValue, lang) } ?? "",
                "files": String(s.attachments.count),
            ]
            return try render("statement", ctx, lang: lang, remember: remember, noStore: true)
        }
        ctx["grounds"] = StatementRecord.Ground.allCases.map {
            ["value": $0.rawValue, "label": env.translations.text("statement_ground_" + $0.rawValue, lang)]
        }
        if let message { ctx["message"] = env.translations.text(message, lang) }
        return try render("statement", ctx, lang: lang, remember: remember, status: status, csrf: csrf, noStore: true)
    }

    /// Multipart: `text` and up to three files in `file` (JPEG, PNG or PDF by their first bytes, 5 MiB each). The CSRF
    /// token is in the action's query.
    func submitStatement(_ req: Request, _ context: LotseContext) async throws -> HTML {
        guard let c = try await verifiedCase(context, cached: false), c.erasedAt == nil else { return try notFound(req) }
        guard formIsGenuine(req, req.uri.queryParameters.get("csrf").map { String($0) }, action: req.uri.path) else {
            return try await statementForm(req, context, message: "error_form_expired", status: .forbidden)
        }
        guard let type = req.headers[.contentType], let boundary = ConsoleController.boundary(type) else {
            return try await statementForm(req, context, message: "statement_empty", status: .badRequest)
        }
        let dir = env.config.dataDir + "/statements"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let received = try await MultipartFiles.receiveWithFields(
            req.body,
            boundary: boundary,
            field: "file",
            directory: dir,
            limit: Self.statementFileLimit * Self.statementMaxFiles,
            maxFiles: Self.statementMaxFiles
        )
        var kept: [String] = []
        var refused = false
        for (path, _) in received.files {
            let size = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
            if size == 0 {
                try? FileManager.default.removeItem(atPath: path)  // an empty file input
            } else if size <= Self.statementFileLimit,
                try await NIOThreadPool.singleton.runIfActive({ Self.attachmentType(path).map { Self.stripMetadata(path, type: $0) } ?? false })
            {
                kept.append((path as NSString).lastPathComponent)
            } else {
                refused = true
                try? FileManager.default.removeItem(atPath: path)
            }
        }
        let text = (received.fields["text"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let ground = received.fields["ground"].flatMap(StatementRecord.Ground.init(rawValue:))
        guard let ground, !text.isEmpty, text.count <= 4000, !refused else {
            for name in kept { try? FileManager.default.removeItem(atPath: dir + "/" + name) }
            let message = refused ? "statement_bad_file" : ground == nil ? "statement_no_ground" : "statement_empty"
            return try await statementForm(req, context, message: message, status: .badRequest)
        }
        let id = try await env.store.addStatement(
            caseID: c.id,
            ground: ground,
            text: text,
            attachments: kept,
            now: Int64(Date().timeIntervalSince1970)
        )
        let lang = req.uri.queryParameters.get("lang").flatMap { env.translations.supports(String($0)) ? String($0) : nil } ?? language(req).lang
        // the confirmation page, with the receipt number (a reload shows it again and sends nothing)
        return redirect(req.uri.path + "?received=\(id)&lang=" + lang)
    }

    /// A photo loses its camera metadata (Exif with the GPS position, XMP, comments, text chunks) before it is kept
    /// (`ImageMetadata`); a PDF is kept as it is. False when the picture does not parse: the file is refused.
    static func stripMetadata(_ path: String, type: String) -> Bool {
        guard type != "application/pdf" else { return true }
        guard let data = FileManager.default.contents(atPath: path) else { return false }
        let bytes = [UInt8](data)
        guard let stripped = type == "image/jpeg" ? ImageMetadata.strippedJPEG(bytes) : ImageMetadata.strippedPNG(bytes) else { return false }
        guard stripped.count != bytes.count else { return true }
        // written beside and renamed over, private as the original
        let temporary = path + ".stripping"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(stripped), attributes: [.posixPermissions: 0o600]) else {
            return false
        }
        return rename(temporary, path) == 0
    }

    /// A statement's receipt number as the motorist and the office see it: `S-000123`.
    static func statementNumber(_ id: Int64) -> String {
        let digits = String(id)
        return "S-" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    /// The type of an attachment by its first bytes: `image/jpeg`, `image/png`, `application/pdf`; nil for anything else.
    static func attachmentType(_ path: String) -> String? {
        guard let h = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? h.close() }
        let head = [UInt8](h.readData(ofLength: 8))
        if head.starts(with: [0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        if head.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "image/png" }
        if head.starts(with: Array("%PDF-".utf8)) { return "application/pdf" }
        return nil
    }
}
