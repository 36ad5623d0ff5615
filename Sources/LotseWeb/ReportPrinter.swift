import Foundation
import NIOPosix
import Synchronization

/// The dashboard as an A4 PDF for the council, printed by headless Chromium from the page's own HTML: the print
/// stylesheet sets the pages, their numbers and the breaks, so the PDF and the browser's print-out are one design.
///
/// The HTML is written, with the stylesheet and the logo inline, into a private folder (0700) that is removed
/// afterwards; Chromium opens it as a file and loads nothing else. Chromium runs on NIO's blocking pool, never on
/// an event loop, is stopped after `timeout` seconds, and at most `limit` reports are printed at once (the next
/// request is told to try again).
final class ReportPrinter: Sendable {
    enum Failure: Error {
        /// `limit` reports are being printed.
        case busy
        /// Chromium failed, or took longer than `timeout`.
        case failed(String)
    }

    let chromium: String
    let publicDir: String
    /// The stylesheet and the logo (a data URL), read once: every report puts them inline.
    let stylesheet: String?
    let logo: String?
    let timeout: Double
    let limit: Int
    private let running = Mutex(0)

    init(chromium: String, publicDir: String, timeout: Double = 60, limit: Int = 2) {
        self.chromium = chromium
        self.publicDir = publicDir
        stylesheet = try? String(contentsOfFile: publicDir + "/style.css", encoding: .utf8)
        logo = FileManager.default.contents(atPath: publicDir + "/logo.svg").map { "data:image/svg+xml;base64," + $0.base64EncodedString() }
        self.timeout = timeout
        self.limit = limit
    }

    /// The PDF of `html` (a page rendered by the dashboard).
    func pdf(of html: String) async throws -> Data {
        let claimed = running.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
        guard claimed else { throw Failure.busy }
        defer { running.withLock { $0 -= 1 } }
        let page = inline(html)
        return try await NIOThreadPool.singleton.runIfActive { try self.print(page) }
    }

    /// The page with what it links from `public/` inline: a file page cannot reach the server's `/style.css`.
    func inline(_ html: String) -> String {
        var page = html
        if let stylesheet {
            page = page.replacingOccurrences(of: "<link rel=\"stylesheet\" href=\"/style.css\">", with: "<style>\n" + stylesheet + "\n</style>")
        }
        if let logo { page = page.replacingOccurrences(of: "src=\"/logo.svg\"", with: "src=\"" + logo + "\"") }
        return page
    }

    private func print(_ page: String) throws -> Data {
        let files = FileManager.default
        let folder = files.temporaryDirectory.appendingPathComponent("lotse-report-" + UUID().uuidString)
        try files.createDirectory(at: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        defer { try? files.removeItem(at: folder) }
        let source = folder.appendingPathComponent("report.html")
        let output = folder.appendingPathComponent("report.pdf")
        guard files.createFile(atPath: source.path, contents: Data(page.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw Failure.failed("cannot write \(source.path)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: chromium)
        var arguments = [
            "--headless", "--disable-gpu", "--js-flags=--jitless", "--no-pdf-header-footer", "--no-first-run", "--disable-extensions",
            "--disable-background-networking", "--user-data-dir=" + folder.path + "/profile", "--print-to-pdf=" + output.path,
            source.absoluteString,
        ]
        // Chromium's sandbox refuses to start as root (a container); the page is Lotse's own, escaped HTML
        if geteuid() == 0 { arguments.insert("--no-sandbox", at: 0) }
        process.arguments = arguments
        process.environment = ["HOME": folder.path, "PATH": "/usr/local/bin:/usr/bin:/bin"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                // SIGKILL: the server ignores SIGTERM (its lifecycle handles it), and a child inherits that
                // (no waitUntilExit: Foundation's would wait for the grandchildren too; Chromium's helpers end with it)
                kill(process.processIdentifier, SIGKILL)
                throw Failure.failed("chromium took longer than \(Int(timeout)) s")
            }
            usleep(50_000)
        }
        guard process.terminationStatus == 0, let pdf = files.contents(atPath: output.path), pdf.starts(with: Data("%PDF".utf8)) else {
            throw Failure.failed("chromium exited with status \(process.terminationStatus) and no PDF")
        }
        return pdf
    }
}
