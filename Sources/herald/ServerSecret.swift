import Foundation

/// The server's own secret, kept in a file so that chat sessions and the tokens it issues stay
/// valid across restarts. Created (mode 0600) with 32 random bytes on first use.
enum ServerSecret {
    static func defaultPath() -> String {
        let base = ProcessInfo.processInfo.environment["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() + "/.local/state")
        return base + "/herald/secret"
    }

    /// Reads the secret at `path`, creating it when missing; nil when the file cannot be used.
    static func load(path: String) -> String? {
        if let existing = try? String(contentsOfFile: path, encoding: .utf8) {
            let secret = existing.trimmingCharacters(in: .whitespacesAndNewlines)
            if secret.utf8.count >= 32 { return secret }
        }
        var generator = SystemRandomNumberGenerator()
        let secret = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            guard FileManager.default.createFile(
                atPath: path,
                contents: Data((secret + "\n").utf8),
                attributes: [.posixPermissions: 0o600]
            ) else { return nil }
            return secret
        } catch {
            return nil
        }
    }

    /// A random secret for this process only.
    static func ephemeral() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}
