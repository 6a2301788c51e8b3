import HeraldTestSupport
import HeraldRedis
import Testing

extension RedisIntegrationTests {
    @Suite("Authentication and database selection on a real server")
    struct AuthAndDatabase {
        @Test("A password in the URL authenticates, over RESP3 and over RESP2",
              arguments: [RedisConfiguration.ProtocolPreference.resp3, .resp2])
        func password(protocolPreference: RedisConfiguration.ProtocolPreference) async throws {
            try await withRedisServer(extraArguments: ["--requirepass", "s3cret"]) { server in
                let configuration = try RedisConfiguration(
                    url: "redis://:s3cret@127.0.0.1:\(server.port)", protocolPreference: protocolPreference
                )
                let connection = try await RedisConnection.connect(configuration: configuration, logger: testLogger)
                #expect(connection.protocolVersion == (protocolPreference == .resp3 ? 3 : 2))
                try await connection.ping()
                await connection.close()
            }
        }

        @Test("A wrong password fails the connect with the server's WRONGPASS")
        func wrongPassword() async throws {
            try await withRedisServer(extraArguments: ["--requirepass", "s3cret"]) { server in
                let configuration = try RedisConfiguration(url: "redis://:nope@127.0.0.1:\(server.port)")
                await #expect {
                    _ = try await RedisConnection.connect(configuration: configuration, logger: testLogger)
                } throws: { ($0 as? RedisError)?.code == "WRONGPASS" }
            }
        }

        @Test("Without the password, commands are refused with NOAUTH")
        func missingPassword() async throws {
            try await withRedisServer(extraArguments: ["--requirepass", "s3cret"]) { server in
                let connection = try await server.connect()
                await #expect {
                    try await connection.send(["GET", "k"])
                } throws: { ($0 as? RedisError)?.code == "NOAUTH" }
                await connection.close()
            }
        }

        @Test("An ACL user and password from the URL log in as that user")
        func aclUser() async throws {
            try await withRedisServer(extraArguments: ["--requirepass", "s3cret"]) { server in
                let admin = try await server.connect(password: "s3cret")
                _ = try await admin.send(["ACL", "SETUSER", "alice", "on", ">wonder land", "~*", "&*", "+@all"])
                await admin.close()
                let configuration = try RedisConfiguration(url: "redis://alice:wonder%20land@127.0.0.1:\(server.port)")
                let connection = try await RedisConnection.connect(configuration: configuration, logger: testLogger)
                #expect(try await connection.send(["ACL", "WHOAMI"]).string == "alice")
                await connection.close()
            }
        }

        @Test("The database in the URL is selected, in both protocols",
              arguments: [RedisConfiguration.ProtocolPreference.resp3, .resp2])
        func database(protocolPreference: RedisConfiguration.ProtocolPreference) async throws {
            try await withRedisServer { server in
                let configuration = try RedisConfiguration(
                    url: "redis://127.0.0.1:\(server.port)/3", protocolPreference: protocolPreference
                )
                let connection = try await RedisConnection.connect(configuration: configuration, logger: testLogger)
                let info = try await connection.send(["CLIENT", "INFO"]).string ?? ""
                #expect(clientField("db", in: info) == "3")
                _ = try await connection.send(["SET", "where", "db3"])
                let defaultDatabase = try await server.connect()
                #expect(try await defaultDatabase.send(["GET", "where"]).isNull)
                #expect(try await defaultDatabase.send(["SELECT", "3"]) == .simpleString("OK"))
                #expect(try await defaultDatabase.send(["GET", "where"]).string == "db3")
                await defaultDatabase.close()
                await connection.close()
            }
        }
    }
}
