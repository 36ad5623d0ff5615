// swift-tools-version:6.0
// Lotse: QR-code payment of parking fines for a municipal pilot.
// One library per concern, a thin `lotse` executable, tests mirroring sources.
import PackageDescription

let package = Package(
    name: "Lotse",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "lotse", targets: ["lotse"]),
        .executable(name: "lotse-paypal-sim", targets: ["lotse-paypal-sim"]),
        .executable(name: "lotse-handheld", targets: ["lotse-handheld"]),
        .executable(name: "lotse-xbd-sim", targets: ["lotse-xbd-sim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.34.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.2"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/vapor/multipart-kit", from: "4.7.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // C libraries (system-library targets; SQLite comes as GRDB's `GRDBSQLite` system library)
        .systemLibrary(
            name: "CQRencode",
            pkgConfig: "libqrencode",
            providers: [.apt(["libqrencode-dev"])]
        ),
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .systemLibrary(
            name: "CLotseZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // sqlite3_config is variadic: process-wide SQLite settings through a C function.
        .target(name: "CSQLiteShim", dependencies: ["CSQLite"]),
        // curl_easy_setopt is variadic: Swift calls these typed wrappers instead.
        .target(name: "CCurlShim", dependencies: ["CCurl"]),

        // The one outgoing HTTP client, over libcurl.
        .target(name: "LotseHTTP", dependencies: ["LotseCore", "CCurl", "CCurlShim"]),

        // Online payment providers behind one interface: PayPal (Orders v2, webhooks verified by its API or offline
        // against its certificate), the city's e-payment platform (XBezahldienste); the reminder guard.
        .target(
            name: "LotsePayments",
            dependencies: [
                "LotseCore", "LotseStorage", "LotseHTTP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
            ]
        ),

        // Domain model and rules: money, plates, Berlin time, catalogue, RF references, config.
        .target(name: "LotseCore"),
        // SQLite through GRDB: WAL, migrations, repositories.
        .target(
            name: "LotseStorage",
            dependencies: [
                "LotseCore", "CSQLiteShim",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        // Signed case tokens and their key ring.
        .target(
            name: "LotseTokens",
            dependencies: [
                "LotseCore",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // QR codes (libqrencode) as SVG and PNG.
        .target(name: "LotseQR", dependencies: ["CQRencode"]),
        // Handheld exports: Lotse CSV, WiNOWiG MDE XML, xOWi XML; the importer.
        .target(
            name: "LotseImport",
            dependencies: ["LotseCore", "LotseStorage", .product(name: "ZIPFoundation", package: "ZIPFoundation")]
        ),
        // Bank statements: camt.054/camt.053 streamed, batches split, matched to cases.
        .target(
            name: "LotseBank",
            dependencies: [
                "LotseCore", "LotseStorage",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Pilot statistics from case milestones, payments and the baseline file.
        .target(name: "LotseStats", dependencies: ["LotseCore", "LotseStorage"]),
        // The synthetic demo pilot, built through the real code paths.
        .target(
            name: "LotseDemo",
            dependencies: [
                "LotseCore", "LotseStorage", "LotseImport", "LotseBank", "LotseOffice", "LotseHTTP", "LotsePayments",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Office workflows shared by CLI and web: QR batch output, the dunning run, accounts (bcrypt, TOTP, password
        // rules) and the audit log's hash chain.
        .target(
            name: "LotseOffice",
            dependencies: [
                "LotseCore", "LotseStorage", "LotseTokens", "LotseQR",
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "HummingbirdOTP", package: "hummingbird-auth"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ]
        ),
        // The web: motorist pages, lookup, GiroCode, verify, health and metrics (Hummingbird 2, Mustache).
        .target(
            name: "LotseWeb",
            dependencies: [
                "LotseCore", "LotseStorage", "LotseTokens", "LotseQR", "LotseImport", "LotseBank", "LotseHTTP", "LotsePayments", "LotseStats",
                "LotseOffice", "CLotseZlib",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "MultipartKit", package: "multipart-kit"),
            ]
        ),
        // Thin executable.
        .executableTarget(
            name: "lotse",
            dependencies: [
                "LotseCore", "LotseStorage", "LotseTokens", "LotseQR", "LotseImport", "LotseBank", "LotseHTTP", "LotsePayments",
                "LotseStats", "LotseOffice", "LotseDemo", "LotseWeb",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // PayPal's protocol on loopback for tests and the offline demo, with fault injection.
        .executableTarget(
            name: "lotse-paypal-sim",
            dependencies: [
                "LotseCore", "LotseHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),

        // An e-payment platform speaking XBezahldienste (formats §6) on loopback for tests and the demo: three ways to
        // authenticate (mutual TLS through HummingbirdTLS), a pay page, functional errors, fault injection.
        .executableTarget(
            name: "lotse-xbd-sim",
            dependencies: [
                "LotseCore", "LotseHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),

        // The reference handheld (formats §2b): issues a ticket offline with its token, prints it, exports it, pushes it.
        .executableTarget(
            name: "lotse-handheld",
            dependencies: [
                "LotseCore", "LotseTokens", "LotseQR", "LotseHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),

        // Fuzz targets: every outside input through the real code path, with invariants (`make fuzz`, corpus tests).
        .target(name: "LotseFuzzTargets", dependencies: ["LotseCore", "LotseStorage", "LotseImport", "LotseBank", "LotseTokens"]),
        // libFuzzer's entry point (`make fuzz`), or a replayer of saved inputs in the normal build.
        .executableTarget(name: "lotse-fuzz", dependencies: ["LotseCore", "LotseFuzzTargets"]),

        // Helpers for the tests: temp dirs, running the real binary, zbarimg.
        .target(
            name: "LotseTestSupport",
            dependencies: ["LotseHTTP", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
            path: "Tests/LotseTestSupport"
        ),
        .testTarget(name: "LotseCoreTests", dependencies: ["LotseCore", "LotseTestSupport"]),
        .testTarget(name: "LotseStorageTests", dependencies: ["LotseStorage", "LotseCore", "LotseTestSupport"]),
        .testTarget(name: "LotseTokensTests", dependencies: ["LotseTokens", "LotseCore", "LotseQR", "LotseTestSupport"]),
        .testTarget(name: "LotseQRTests", dependencies: ["LotseQR", "LotseTestSupport"]),
        .testTarget(
            name: "LotseImportTests",
            dependencies: ["LotseImport", "LotseCore", "LotseStorage", "LotseTestSupport", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(name: "LotseBankTests", dependencies: ["LotseBank", "LotseCore", "LotseImport", "LotseStorage", "LotseTestSupport"]),
        .testTarget(name: "LotseHTTPTests", dependencies: ["LotseHTTP", "LotseTestSupport"]),
        .testTarget(
            name: "LotsePaymentsTests",
            dependencies: [
                "LotsePayments", "LotseHTTP", "LotseStorage", "LotseCore", "LotseTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "LotseOfficeTests",
            dependencies: ["LotseOffice", "LotseCore", "LotseImport", "LotseStorage", "LotseTokens", "LotseTestSupport"]
        ),
        .testTarget(
            name: "LotseWebTests",
            dependencies: [
                "LotseWeb", "LotseCore", "LotseHTTP", "LotseImport", "LotseOffice", "LotsePayments", "LotseStorage", "LotseTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "LotseStatsTests",
            dependencies: [
                "LotseStats", "LotseStorage", "LotseImport", "LotseOffice", "LotseCore", "LotseHTTP", "LotseTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(name: "LotseCLITests", dependencies: ["LotseCore", "LotseStorage", "LotseHTTP", "LotseTestSupport"]),
        .testTarget(name: "LotseHandheldTests", dependencies: ["LotseTestSupport"]),
        .testTarget(name: "LotseFuzzTests", dependencies: ["LotseFuzzTargets", "LotseCore", "LotseTestSupport"]),
    ]
)
