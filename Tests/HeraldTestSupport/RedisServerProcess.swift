#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A real `redis-server` on a loopback port, started for one test and killed by PID after it.
public struct RedisServerProcess: Sendable {
    public struct StartError: Error, CustomStringConvertible {
        public var description: String
        /// The process ended before answering (typically: its port was taken meanwhile).
        public var exitedAtStart = false
    }

    public let port: Int
    public let pid: pid_t
    public let extraArguments: [String]

    /// The `redis-server` binary: `$REDIS_SERVER` when set (and then only that one, so the
    /// missing-server path can be tried), else the first on `PATH` or in the usual folders.
    public static let executablePath: String? = {
        if let override = getenv("REDIS_SERVER").map({ String(cString: $0) }), !override.isEmpty {
            return access(override, X_OK) == 0 ? override : nil
        }
        let path = getenv("PATH").map { String(cString: $0) } ?? ""
        let folders = path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/sbin", "/usr/local/bin"]
        return folders.map { $0 + "/redis-server" }.first { access($0, X_OK) == 0 }
    }()

    /// Starts `redis-server` on `port` (a free one when nil) with persistence off, and waits
    /// until it answers PING. A free port is only free when it is picked: another process may
    /// bind it before redis-server does, so with no port given a server that exits at start is
    /// tried again on another port (a few times).
    public static func start(port: Int? = nil, extraArguments: [String] = []) async throws -> RedisServerProcess {
        guard let executable = executablePath else {
            throw StartError(description: "redis-server is not installed (apt-get install -y redis-server)")
        }
        var attempt = 0
        while true {
            attempt += 1
            let chosen = try port ?? freeLoopbackPort()
            let arguments = [
                "--port", String(chosen), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", "/tmp", "--loglevel", "warning",
            ] + extraArguments
            let logPath = "/tmp/herald-redis-test-\(chosen).log"
            let pid = try spawn(executable, arguments: arguments, outputPath: logPath)
            let server = RedisServerProcess(port: chosen, pid: pid, extraArguments: extraArguments)
            do {
                try await server.waitUntilReady(logPath: logPath)
                return server
            } catch let error as StartError where error.exitedAtStart && port == nil && attempt < 5 {
                server.stop()
            } catch {
                server.stop()
                throw error
            }
        }
    }

    /// Starts a new server process with the same port and arguments (after ``stop()``).
    public func restart() async throws -> RedisServerProcess {
        try await Self.start(port: port, extraArguments: extraArguments)
    }

    /// Kills the process by PID and reaps it.
    public func stop() {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }

    /// Freezes the process (its sockets stay open but nothing is answered).
    public func suspend() { kill(pid, SIGSTOP) }

    /// Thaws a process frozen by ``suspend()``.
    public func resume() { kill(pid, SIGCONT) }

    // MARK: Internals

    private func waitUntilReady(logPath: String) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                throw StartError(description: "redis-server exited at start; see \(logPath)", exitedAtStart: true)
            }
            if Self.answersPing(port: port) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw StartError(description: "redis-server did not answer PING on port \(port) within 10 s; see \(logPath)")
    }

    private static func spawn(_ executable: String, arguments: [String], outputPath: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard result == 0 else { throw StartError(description: "posix_spawn failed: \(result)") }
        return pid
    }

    /// A port that was free a moment ago: bind port 0 on loopback and read what was given.
    public static func freeLoopbackPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StartError(description: "socket() failed") }
        defer { close(fd) }
        var address = loopbackAddress(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw StartError(description: "bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Sends a raw `PING` over a blocking socket; true if `+PONG` (or `-NOAUTH`) comes back.
    private static func answersPing(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = loopbackAddress(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { systemConnect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return false }
        let ping = Array("PING\r\n".utf8)
        guard send(fd, ping, ping.count, 0) == ping.count else { return false }
        var reply = [UInt8](repeating: 0, count: 64)
        let count = recv(fd, &reply, reply.count, 0)
        guard count > 0 else { return false }
        let text = String(decoding: reply[..<count], as: UTF8.self)
        return text.hasPrefix("+PONG") || text.hasPrefix("-NOAUTH")
    }

    private static func loopbackAddress(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }
}

#if canImport(Glibc)
private let systemConnect = Glibc.connect
#elseif canImport(Darwin)
private let systemConnect = Darwin.connect
#endif

/// Runs `body` with a fresh server, and kills the server whatever happens.
public func withRedisServer<T>(
    extraArguments: [String] = [],
    _ body: (RedisServerProcess) async throws -> T
) async throws -> T {
    let server = try await RedisServerProcess.start(extraArguments: extraArguments)
    defer { server.stop() }
    return try await body(server)
}
