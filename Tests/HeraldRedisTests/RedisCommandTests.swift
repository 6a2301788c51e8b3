import HeraldTestSupport
import HeraldRedis
import NIOCore
import Testing

extension RedisIntegrationTests {
    @Suite("Commands on a real server")
    struct Commands {
        @Test("SET, GET, INCR and DEL round-trip")
        func basics() async throws {
            try await withRedisServer { server in
                let connection = try await server.connect()
                #expect(try await connection.send(["SET", "greeting", "hello"]) == .simpleString("OK"))
                #expect(try await connection.send(["GET", "greeting"]).string == "hello")
                #expect(try await connection.send(["INCR", "counter"]) == .integer(1))
                #expect(try await connection.send(["INCRBY", "counter", "41"]) == .integer(42))
                #expect(try await connection.send(["DEL", "greeting"]) == .integer(1))
                #expect(try await connection.send(["GET", "greeting"]).isNull)
                try await connection.ping()
                await connection.close()
            }
        }

        @Test("Binary ByteBuffer arguments and replies keep every byte")
        func binary() async throws {
            try await withRedisServer { server in
                let connection = try await server.connect()
                let payload = ByteBuffer(bytes: (0...255).map { UInt8($0) })
                _ = try await connection.send([ByteBuffer(string: "SET"), ByteBuffer(string: "blob"), payload])
                #expect(try await connection.send(["GET", "blob"]) == .bulkString(payload))
                await connection.close()
            }
        }

        @Test("1,000 concurrent commands share one socket and each gets its own reply")
        func pipelining() async throws {
            try await withRedisServer { server in
                let connection = try await server.connect()
                let increments = try await withThrowingTaskGroup(of: Int?.self) { group in
                    for index in 0..<1_000 {
                        group.addTask {
                            if index.isMultiple(of: 2) {
                                let reply = try await connection.send(["ECHO", "value-\(index)"])
                                #expect(reply.string == "value-\(index)")
                                return nil
                            }
                            return try await connection.send(["INCR", "pipelined"]).int
                        }
                    }
                    var seen: [Int] = []
                    for try await value in group {
                        if let value { seen.append(value) }
                    }
                    return seen
                }
                #expect(increments.sorted() == Array(1...500))
                #expect(try await connection.send(["GET", "pipelined"]).int == 500)
                let clients = try await connection.send(["INFO", "clients"]).string ?? ""
                #expect(clients.contains("connected_clients:1\r\n"))
                await connection.close()
            }
        }

        @Test("Error replies are thrown as RedisError with the server's message, and the connection goes on")
        func errorReplies() async throws {
            try await withRedisServer { server in
                let connection = try await server.connect()
                _ = try await connection.send(["SET", "text", "abc"])
                await #expect {
                    try await connection.send(["INCR", "text"])
                } throws: { error in
                    let error = error as? RedisError
                    return error?.code == "ERR" && error?.message.contains("not an integer") == true
                }
                await #expect {
                    try await connection.send(["LPUSH", "text", "x"])
                } throws: { ($0 as? RedisError)?.code == "WRONGTYPE" }
                await #expect {
                    try await connection.send(["NOSUCHCOMMAND", "x"])
                } throws: { ($0 as? RedisError)?.message.contains("unknown command") == true }
                #expect(try await connection.send(["GET", "text"]).string == "abc")
                await connection.close()
            }
        }

        @Test("HELLO 3 negotiates RESP3: maps and doubles arrive as such")
        func resp3() async throws {
            try await withRedisServer { server in
                let connection = try await server.connect(protocolPreference: .resp3)
                #expect(connection.protocolVersion == 3)
                #expect(connection.serverVersion?.isEmpty == false)
                let info = try await connection.send(["CLIENT", "INFO"]).string ?? ""
                #expect(clientField("resp", in: info) == "3")
                _ = try await connection.send(["HSET", "h", "a", "1", "b", "2"])
                let hash = try await connection.send(["HGETALL", "h"])
                guard case .map(let entries) = hash else {
                    Issue.record("HGETALL under RESP3 should be a map, got \(hash)")
                    return
                }
                #expect(entries.count == 2)
                #expect(hash["a"]?.string == "1")
                _ = try await connection.send(["ZADD", "z", "1.5", "m"])
                #expect(try await connection.send(["ZSCORE", "z", "m"]) == .double(1.5))
                await connection.close()
            }
        }

        @Test("RESP2, when asked for, gives flat arrays and strings")
        func resp2() async throws {
            try await withRedisServer { server in
                let connection = try await server.connect(protocolPreference: .resp2)
                #expect(connection.protocolVersion == 2)
                let info = try await connection.send(["CLIENT", "INFO"]).string ?? ""
                #expect(clientField("resp", in: info) == "2")
                _ = try await connection.send(["HSET", "h", "a", "1", "b", "2"])
                let hash = try await connection.send(["HGETALL", "h"])
                #expect(hash.array?.count == 4)
                #expect(hash["b"]?.string == "2")
                _ = try await connection.send(["ZADD", "z", "1.5", "m"])
                #expect(try await connection.send(["ZSCORE", "z", "m"]) == .bulkString(ByteBuffer(string: "1.5")))
                await connection.close()
            }
        }

        @Test("The client name is set in both protocols", arguments: [RedisConfiguration.ProtocolPreference.resp3, .resp2])
        func clientName(protocolPreference: RedisConfiguration.ProtocolPreference) async throws {
            try await withRedisServer { server in
                var configuration = server.configuration(protocolPreference: protocolPreference)
                configuration.clientName = "herald-test"
                let connection = try await RedisConnection.connect(configuration: configuration, logger: testLogger)
                #expect(try await connection.send(["CLIENT", "GETNAME"]).string == "herald-test")
                await connection.close()
            }
        }
    }
}
