import HeraldTestSupport
import HeraldRedis
import Logging

let testLogger: Logger = {
    var logger = Logger(label: "herald.redis.tests")
    logger.logLevel = .warning
    return logger
}()

extension RedisServerProcess {
    /// A configuration for this server.
    func configuration(
        protocolPreference: RedisConfiguration.ProtocolPreference = .resp3,
        password: String? = nil,
        commandTimeout: Duration? = .seconds(10)
    ) -> RedisConfiguration {
        RedisConfiguration(
            host: "127.0.0.1", port: port, password: password, protocolPreference: protocolPreference,
            connectTimeout: .seconds(2), commandTimeout: commandTimeout
        )
    }

    /// A connection to this server.
    func connect(
        protocolPreference: RedisConfiguration.ProtocolPreference = .resp3, password: String? = nil
    ) async throws -> RedisConnection {
        try await RedisConnection.connect(
            configuration: configuration(protocolPreference: protocolPreference, password: password),
            logger: testLogger
        )
    }

    /// The server's CLIENT LIST lines.
    func clientList(password: String? = nil) async throws -> [String] {
        let connection = try await connect(password: password)
        defer { Task { await connection.close() } }
        let text = try await connection.send(["CLIENT", "LIST"]).string ?? ""
        return text.split(separator: "\n").map(String.init)
    }
}

/// Cuts the `key=value` field out of a CLIENT LIST / CLIENT INFO line.
func clientField(_ name: String, in line: String) -> String? {
    line.split(whereSeparator: { $0 == " " || $0.isNewline }).first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
}
