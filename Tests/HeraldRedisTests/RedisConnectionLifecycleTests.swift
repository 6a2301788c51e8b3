import HeraldTestSupport
import HeraldRedis
import HeraldTesting
import Testing

extension RedisIntegrationTests {
    @Suite("Connection loss and timeouts on a real server")
    struct ConnectionLifecycle {
        @Test("After close(), the connection is inactive and sends fail")
        func closing() async throws {
            try await withRedisServer { server in
                let connection = try await server.connect()
                await connection.close()
                #expect(!connection.isActive)
                await #expect {
                    try await connection.send(["PING"])
                } throws: { $0 is RedisConnectionError }
                await connection.close()  // twice is harmless
            }
        }

        @Test("Killing the server fails every pending command with a connection error")
        func serverDeath() async throws {
            let server = try await RedisServerProcess.start()
            defer { server.stop() }
            let connection = try await server.connect()
            server.suspend()
            let pending = (0..<5).map { index in
                Task { try await connection.send(["SET", "k\(index)", "v"]) }
            }
            try await Task.sleep(for: .milliseconds(200))
            server.stop()
            for task in pending {
                await #expect {
                    try await withTimeout(.seconds(5), "pending command") { try await task.value }
                } throws: { ($0 as? RedisConnectionError)?.kind == .connectionClosed }
            }
            try await waitUntil("connection to close") { !connection.isActive }
        }

        @Test("A reply slower than the command timeout fails the command and closes the connection")
        func commandTimeout() async throws {
            let server = try await RedisServerProcess.start()
            defer { server.stop() }
            let connection = try await RedisConnection.connect(
                configuration: server.configuration(commandTimeout: .seconds(1)), logger: testLogger
            )
            try await connection.ping()
            server.suspend()
            defer { server.resume() }
            let started = ContinuousClock.now
            await #expect {
                try await connection.send(["PING"])
            } throws: { ($0 as? RedisConnectionError)?.kind == .timedOut }
            #expect(ContinuousClock.now - started < .seconds(5))
            try await waitUntil("connection to close") { !connection.isActive }
        }

        @Test("Connecting to a port where nothing listens fails promptly")
        func refused() async throws {
            let port = try RedisServerProcess.freeLoopbackPort()
            await #expect(throws: (any Error).self) {
                _ = try await RedisConnection.connect(
                    configuration: RedisConfiguration(port: port, connectTimeout: .seconds(2)), logger: testLogger
                )
            }
        }
    }
}
