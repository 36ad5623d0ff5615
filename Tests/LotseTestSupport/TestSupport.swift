import Foundation
import LotseHTTP

#if canImport(Glibc)
import Glibc
#endif

/// Helpers shared by the test targets: temporary directories, the real `lotse` binary, zbarimg.
public enum TestSupport {
    /// The package root, found from this file's path.
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    public static var pilotData: String { root + "/pilot-data" }
    public static var cataloguePath: String { pilotData + "/tbnr-parking.csv" }

    /// A fresh directory under /tmp, removed by the caller if it likes.
    public static func tempDir(_ label: String = "lotse-test") -> String {
        let path = NSTemporaryDirectory() + "/\(label)-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Directory holding the built products (the test bundle sits beside them).
    public static var binDir: String {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path,
            Bundle.main.bundleURL.deletingLastPathComponent().path,
            root + "/.build/debug",
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0 + "/lotse") } ?? (root + "/.build/debug")
    }

    public static var lotse: String { binDir + "/lotse" }

    /// The reference handheld, `lotse-handheld`, built beside `lotse`.
    public static var lotseHandheld: String { binDir + "/lotse-handheld" }

    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String

        public init(status: Int32, stdout: String, stderr: String) {
            self.status = status
            self.stdout = stdout
            self.stderr = stderr
        }
    }

    /// Runs a program to completion.
    @discardableResult
    public static func run(_ program: String, _ args: [String], env: [String: String] = [:], cwd: String? = nil) throws -> Output {
        let p = try start(program, args, env: env, cwd: cwd)
        let out = p.stdoutPipe.fileHandleForReading.readDataToEndOfFile()
        let err = p.stderrPipe.fileHandleForReading.readDataToEndOfFile()
        p.process.waitUntilExit()
        return Output(
            status: p.process.terminationStatus,
            stdout: String(decoding: out, as: UTF8.self),
            stderr: String(decoding: err, as: UTF8.self)
        )
    }

    public struct Running: @unchecked Sendable {
        public let process: Process
        public let stdoutPipe: Pipe
        public let stderrPipe: Pipe
    }

    public static func start(_ program: String, _ args: [String], env: [String: String] = [:], cwd: String? = nil) throws -> Running {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = args
        var e = ProcessInfo.processInfo.environment
        for (k, v) in env { e[k] = v }
        p.environment = e
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        let o = Pipe()
        let r = Pipe()
        p.standardOutput = o
        p.standardError = r
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return Running(process: p, stdoutPipe: o, stderrPipe: r)
    }

    /// Runs `lotse` with a data directory.
    @discardableResult
    public static func lotse(_ args: [String], dataDir: String, env: [String: String] = [:]) throws -> Output {
        var e = env
        e["LOTSE_DATA_DIR"] = dataDir
        e["LOTSE_PILOT_DATA"] = pilotData
        return try run(lotse, args, env: e)
    }

    /// Decodes a QR code image with zbarimg (an independent decoder). Returns the texts found.
    public static func zbarimg(_ path: String) throws -> [String] {
        let out = try run("/usr/bin/env", ["zbarimg", "--quiet", "--raw", "-Sbinary", path])
        guard out.status == 0 else { return [] }
        var text = out.stdout
        if text.hasSuffix("\n") { text.removeLast() }
        return [text]
    }

    /// A TCP port on loopback that was free a moment ago.
    public static func freePort() -> Int { CurlClient.freeLoopbackPort() }

    /// Starts a long-running program (a server) with its output going to `log`, so that it never blocks on a full pipe.
    /// Whether the server at `base` answers `/healthz` within 15 s (polled every 50 ms).
    public static func waitUntilServing(_ base: String) -> Bool {
        for _ in 0..<300 {
            if (try? CurlClient(connectTimeout: 1, timeout: 2).sendBlocking(OutboundRequest(url: base + "/healthz")))?.status == 200 { return true }
            usleep(50_000)
        }
        return false
    }

    public static func startServer(_ program: String, _ args: [String], env: [String: String] = [:], log: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = args
        var e = ProcessInfo.processInfo.environment
        for (k, v) in env { e[k] = v }
        p.environment = e
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let h = FileHandle(forWritingAtPath: log)!
        p.standardOutput = h
        p.standardError = h
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Runs `lotse` with `stdin` on its standard input (a password for `--password-stdin`).
    public static func lotse(_ args: [String], env: [String: String], stdin: String) throws -> Output {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: lotse)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(env) { _, new in new }
        let (input, output, errors) = (Pipe(), Pipe(), Pipe())
        p.standardInput = input
        p.standardOutput = output
        p.standardError = errors
        try p.run()
        input.fileHandleForWriting.write(Data((stdin + "\n").utf8))
        try input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Output(status: p.terminationStatus, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }

    /// A server started for a test did not come up.
    public struct StartFailure: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// Waits until `url` answers 200 through `client` (about 10 s); else throws, naming `logs`.
    public static func waitForOK(_ url: String, client: CurlClient, logs: String) throws {
        for _ in 0..<200 {
            if let r = try? client.sendBlocking(OutboundRequest(url: url)), r.status == 200 { return }
            usleep(50_000)
        }
        throw StartFailure("\(url) did not come up; logs in \(logs)")
    }

    /// Stops servers started for a test: SIGTERM, then SIGKILL after 5 s.
    public static func stop(_ processes: [Process?]) {
        for case let p? in processes where p.isRunning {
            p.terminate()
            for _ in 0..<100 where p.isRunning { usleep(50_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
    }

    public static func write(_ path: String, _ text: String) {
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    }

    public static func write(_ path: String, bytes: [UInt8]) {
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    }
}
