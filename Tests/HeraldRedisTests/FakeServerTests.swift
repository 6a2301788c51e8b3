import HeraldRedis
import HeraldTesting
import NIOCore
import Testing

@Suite("Client against a scripted fake server", .timeLimit(.minutes(1)))
struct FakeServerTests {
    @Test("Garbage in answer to HELLO fails the connect with a decoding error and closes the socket")
    func garbageHello() async throws {
        let server = try await FakeRedisServer.start { _ in .bytes("@@ this is not RESP\r\n") }
        await #expect {
            _ = try await RedisConnection.connect(configuration: server.configuration(), logger: testLogger)
        } throws: { ($0 as? RESPDecodingError)?.kind == .invalidTypeByte }
        try await waitUntil("client to close the socket", timeout: .seconds(30)) { server.closedConnections == 1 }
        #expect(server.commands.map(\.first) == ["HELLO"])
        await server.stop()
    }

    @Test("Garbage in answer to a command fails every pending command with the decoding error, then the connection is closed")
    func garbageReply() async throws {
        let server = try await FakeRedisServer.start { command in
            switch command.first {
            case "HELLO": .bytes(fakeHelloReply)
            case "GET" where command.last == "c": .bytes("$-5\r\n")
            default: .silence
            }
        }
        let connection = try await RedisConnection.connect(configuration: server.configuration(), logger: testLogger)
        let first = Task { try await connection.send(["GET", "a"]) }
        let second = Task { try await connection.send(["GET", "b"]) }
        try await waitUntil("both commands to reach the server") { server.commands.count == 3 }
        await #expect {
            try await connection.send(["GET", "c"])
        } throws: { ($0 as? RESPDecodingError)?.kind == .invalidLength }
        for task in [first, second] {
            await #expect {
                try await withTimeout(.seconds(30), "pending command") { try await task.value }
            } throws: { ($0 as? RESPDecodingError)?.kind == .invalidLength }
        }
        try await waitUntil("connection to close") { !connection.isActive }
        await #expect {
            try await connection.send(["PING"])
        } throws: { ($0 as? RedisConnectionError)?.kind == .connectionClosed }
        await server.stop()
    }

    struct HostileReply: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: String
        let kind: RESPDecodingError.Kind
        var testDescription: String { name }
    }

    static let hostileReplies: [HostileReply] = [
        HostileReply(name: "512 MiB bulk", bytes: "$536870912\r\n", kind: .bulkTooLong),
        HostileReply(name: "billion-element array", bytes: "*1000000000\r\n", kind: .tooManyElements),
        HostileReply(name: "depth bomb", bytes: String(repeating: "*1\r\n", count: 1_000), kind: .nestingTooDeep),
        HostileReply(name: "endless line", bytes: "+" + String(repeating: "x", count: 100_000), kind: .lineTooLong),
        HostileReply(name: "negative length", bytes: "*-7\r\n", kind: .invalidLength),
    ]

    @Test("Hostile replies are refused with the matching decoding error", arguments: hostileReplies)
    func hostile(reply: HostileReply) async throws {
        let server = try await FakeRedisServer.start { command in
            command.first == "HELLO" ? .bytes(fakeHelloReply) : .bytes(reply.bytes)
        }
        let connection = try await RedisConnection.connect(configuration: server.configuration(), logger: testLogger)
        await #expect {
            try await connection.send(["GET", "k"])
        } throws: { ($0 as? RESPDecodingError)?.kind == reply.kind }
        try await waitUntil("connection to close") { !connection.isActive }
        await server.stop()
    }

    @Test("An error answer to HELLO falls back to RESP2 with AUTH and SELECT, and commands work")
    func helloRefused() async throws {
        let server = try await FakeRedisServer.start { command in
            switch command.first {
            case "HELLO": .bytes("-ERR unknown command 'HELLO'\r\n")
            case "AUTH", "SELECT", "SET": .bytes("+OK\r\n")
            case "GET": .bytes("$3\r\nbar\r\n")
            case "PING": .bytes("+PONG\r\n")
            default: .bytes("-ERR unexpected\r\n")
            }
        }
        let connection = try await RedisConnection.connect(
            configuration: server.configuration(password: "pw", database: 2), logger: testLogger
        )
        #expect(connection.protocolVersion == 2)
        #expect(try await connection.send(["SET", "foo", "bar"]) == .simpleString("OK"))
        #expect(try await connection.send(["GET", "foo"]).string == "bar")
        try await connection.ping()
        #expect(
            server.commands == [
                ["HELLO", "3", "AUTH", "default", "pw"], ["AUTH", "pw"], ["SELECT", "2"], ["SET", "foo", "bar"],
                ["GET", "foo"], ["PING"],
            ]
        )
        await connection.close()
        await server.stop()
    }

    @Test("An AUTH refusal after the fallback fails the connect with the server's error")
    func fallbackAuthRefused() async throws {
        let server = try await FakeRedisServer.start { command in
            command.first == "HELLO" ? .bytes("-ERR unknown command 'HELLO'\r\n") : .bytes("-WRONGPASS nope\r\n")
        }
        await #expect {
            _ = try await RedisConnection.connect(configuration: server.configuration(password: "pw"), logger: testLogger)
        } throws: { ($0 as? RedisError)?.code == "WRONGPASS" }
        try await waitUntil("client to close the socket") { server.closedConnections == 1 }
        await server.stop()
    }

    @Test("When the server hangs up, pending commands fail with connectionClosed")
    func hangUp() async throws {
        let server = try await FakeRedisServer.start { command in
            switch command.first {
            case "HELLO": .bytes(fakeHelloReply)
            case "QUIT": .close
            default: .silence
            }
        }
        let connection = try await RedisConnection.connect(configuration: server.configuration(), logger: testLogger)
        let pending = (0..<3).map { index in Task { try await connection.send(["GET", "k\(index)"]) } }
        try await waitUntil("commands to reach the server") { server.commands.count == 4 }
        _ = try? await connection.send(["QUIT"])
        for task in pending {
            await #expect {
                try await withTimeout(.seconds(30), "pending command") { try await task.value }
            } throws: { ($0 as? RedisConnectionError)?.kind == .connectionClosed }
        }
        await server.stop()
    }

    @Test("A command unanswered within the timeout fails with timedOut and closes the connection")
    func timeout() async throws {
        let server = try await FakeRedisServer.start { command in
            command.first == "HELLO" ? .bytes(fakeHelloReply) : .silence
        }
        // Long enough that the handshake itself (the same timeout) is answered on a loaded machine.
        let connection = try await RedisConnection.connect(
            configuration: server.configuration(commandTimeout: .seconds(1)), logger: testLogger
        )
        let started = ContinuousClock.now
        await #expect {
            try await connection.send(["GET", "k"])
        } throws: { ($0 as? RedisConnectionError)?.kind == .timedOut }
        #expect(ContinuousClock.now - started >= .milliseconds(900))
        try await waitUntil("connection to close") { !connection.isActive }
        await server.stop()
    }

    @Test("A reply nobody asked for closes the connection")
    func unsolicitedReply() async throws {
        let server = try await FakeRedisServer.start { command in
            command.first == "HELLO" ? .bytes(fakeHelloReply + "+SURPRISE\r\n") : .silence
        }
        let connection = try await RedisConnection.connect(configuration: server.configuration(), logger: testLogger)
        try await waitUntil("connection to close") { !connection.isActive }
        await server.stop()
    }

    @Test("Out-of-band pushes and attributes do not disturb reply matching")
    func pushesAndAttributes() async throws {
        let server = try await FakeRedisServer.start { command in
            switch command.first {
            case "HELLO": .bytes(fakeHelloReply)
            case "GET": .bytes(">2\r\n+invalidate\r\n*1\r\n$1\r\nk\r\n" + "|1\r\n+ttl\r\n:5\r\n$3\r\nval\r\n")
            default: .bytes("+OK\r\n")
            }
        }
        let connection = try await RedisConnection.connect(configuration: server.configuration(), logger: testLogger)
        #expect(try await connection.send(["GET", "k"]) == .bulkString(ByteBuffer(string: "val")))
        #expect(try await connection.send(["SET", "k", "v"]) == .simpleString("OK"))
        await connection.close()
        await server.stop()
    }
}
