import Foundation
import TestSupport

/// Debian's `chromium`, headless: what the console tests look at pages with. A real browser parses the HTML, so
/// what it shows is what an operator would see, escaping included.
public enum Chromium {
    public static let executable = URL(fileURLWithPath: "/usr/bin/chromium")

    public static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: executable.path) }

    /// The DOM after parsing, serialized (`--dump-dom`).
    public static func dumpDOM(_ url: String) async throws -> String {
        try await run(["--dump-dom", url])
    }

    /// A PNG of the page as a 1280-pixel-wide window shows it.
    public static func screenshot(_ url: String, to path: String, height: Int = 1000) async throws {
        try? FileManager.default.removeItem(atPath: path)
        _ = try await run(["--screenshot=\(path)", "--window-size=1280,\(height)", url])
        guard let data = FileManager.default.contents(atPath: path), data.starts(with: [0x89, 0x50, 0x4E, 0x47]) else {
            throw TimedOut(description: "chromium wrote no PNG to \(path)")
        }
    }

    private static func run(_ arguments: [String]) async throws -> String {
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("chromium-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: profile) }
        // --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
        return try await ChildProcess.run(executable, [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars", "--no-first-run",
            "--user-data-dir=\(profile.path)", "--virtual-time-budget=2000",
        ] + arguments, timeout: .seconds(90))
    }
}
