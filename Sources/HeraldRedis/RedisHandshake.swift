import Logging

/// The commands a new connection sends before it is handed out: protocol negotiation,
/// authentication, client name and database selection.
enum RedisHandshake {
    struct Outcome: Sendable {
        var protocolVersion: Int
        var serverVersion: String?
    }

    /// Runs the handshake with `send`, which returns replies (errors as values).
    ///
    /// `HELLO 3` carries the credentials and client name; if the server answers it with any
    /// error (older servers, proxies), the connection stays on RESP2 and `AUTH`,
    /// `CLIENT SETNAME` are sent separately. `SELECT` follows when the database is not 0.
    static func perform(
        configuration: RedisConfiguration,
        logger: Logger,
        send: ([String]) async throws -> RESPValue
    ) async throws -> Outcome {
        var outcome = Outcome(protocolVersion: 2, serverVersion: nil)
        var negotiated = false

        if configuration.protocolPreference == .resp3 {
            var hello = ["HELLO", "3"]
            if let password = configuration.password {
                hello += ["AUTH", configuration.username ?? "default", password]
            }
            if let name = configuration.clientName {
                hello += ["SETNAME", name]
            }
            let reply = try await send(hello)
            if let message = reply.errorMessage {
                logger.debug("HELLO 3 refused, falling back to RESP2", metadata: ["reply": "\(message)"])
            } else {
                negotiated = true
                outcome.protocolVersion = reply["proto"]?.int ?? 3
                outcome.serverVersion = reply["version"]?.string
            }
        }

        if !negotiated {
            if let password = configuration.password {
                let auth = configuration.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
                _ = try RedisConnection.checked(await send(auth))
            }
            if let name = configuration.clientName {
                _ = try RedisConnection.checked(await send(["CLIENT", "SETNAME", name]))
            }
        }
        if configuration.database != 0 {
            _ = try RedisConnection.checked(await send(["SELECT", String(configuration.database)]))
        }
        return outcome
    }
}
