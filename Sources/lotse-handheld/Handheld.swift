import ArgumentParser

/// The root command: `lotse-handheld issue …`.
struct Handheld: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lotse-handheld",
        abstract: "The reference handheld: issues a parking ticket with its QR code offline (formats §2b).",
        subcommands: [Issue.self]
    )
}
