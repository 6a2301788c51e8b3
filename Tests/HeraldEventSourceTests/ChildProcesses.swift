import Foundation

/// A process started for one test and ended by its PID (SIGTERM, then SIGKILL if it lingers).
/// Output goes to a log file, read to learn when (and on which port) it is ready.
struct ChildProcess {
    let process: Process
    let logPath: String

    static func start(_ executable: String, _ arguments: [String], logName: String) throws -> ChildProcess {
        let logPath = NSTemporaryDirectory() + "herald-es-\(logName)-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try log.close()
        return ChildProcess(process: process, logPath: logPath)
    }

    var log: String { (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? "" }

    /// Waits (polling the log, at most `seconds`) for a line matching `pattern`; returns its first capture group.
    func waitForLine(_ pattern: String, seconds: Double = 30) async throws -> String {
        let regex = try NSRegularExpression(pattern: pattern)
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            let text = self.log
            if let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) {
                let range = match.numberOfRanges > 1 ? match.range(at: 1) : match.range
                return Range(range, in: text).map { String(text[$0]) } ?? ""
            }
            guard self.process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ProcessError(description: "no line matching \(pattern) in \(self.logPath):\n\(self.log.suffix(2000))")
    }

    /// SIGTERM, and SIGKILL after 10 s if it is still running; waits for the exit.
    func stop() async {
        guard self.process.isRunning else { return }
        kill(self.process.processIdentifier, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(10)
        while self.process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if self.process.isRunning { kill(self.process.processIdentifier, SIGKILL) }
        self.process.waitUntilExit()
    }
}

struct ProcessError: Error, CustomStringConvertible {
    let description: String
}

enum Binaries {
    static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"

    /// `herald`: `$HERALD_BIN`, else the one built beside this test bundle (`swift build
    /// --build-tests` and `swift test` build it), else `.build/debug/herald`.
    static var herald: String? {
        if let path = ProcessInfo.processInfo.environment["HERALD_BIN"] { return path }
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("herald").path
        let candidates = [beside, repositoryRoot.appendingPathComponent(".build/debug/herald").path]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func onPath(_ name: String) -> String? {
        let folders = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/bin:/usr/sbin:/usr/local/bin"
        return folders.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Whether tests needing `tool` run: yes when it is there; without it they are skipped
    /// loudly, except under `CI=true`, where they run and fail (a missing tool must not pass).
    static func available(_ tool: String?, _ name: String) -> Bool {
        if tool != nil || isCI { return true }
        print("⚠️ WARNING: \(name) not found: SKIPPING the HeraldEventSource tests that need it (with CI=true they fail instead).")
        return false
    }
}

/// `herald serve` on loopback, with its own secret file and no chat.
func startHerald(_ extra: [String], port: Int = 0) async throws -> (ChildProcess, Int) {
    guard let herald = Binaries.herald else { throw ProcessError(description: "the herald binary is not built (swift build --product herald)") }
    let secret = NSTemporaryDirectory() + "herald-es-secret-\(UUID().uuidString.prefix(8))"
    let child = try ChildProcess.start(
        herald,
        ["serve", "--host", "127.0.0.1", "--port", String(port), "--log-level", "warning", "--chat", "false", "--secret-file", secret] + extra,
        logName: "herald"
    )
    let listening = try await child.waitForLine(#"Herald listening on https?://127\.0\.0\.1:(\d+)"#)
    guard let actual = Int(listening) else { throw ProcessError(description: "bad port \(listening)") }
    return (child, actual)
}
