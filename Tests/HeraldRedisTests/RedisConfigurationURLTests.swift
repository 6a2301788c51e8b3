import HeraldRedis
import Testing

@Suite("Redis URL parsing")
struct RedisConfigurationURLTests {
    struct Valid: Sendable, CustomTestStringConvertible {
        let url: String
        let host: String
        var port = 6379
        var username: String? = nil
        var password: String? = nil
        var database = 0
        var testDescription: String { url }
    }

    static let valid: [Valid] = [
        Valid(url: "redis://localhost", host: "localhost"),
        Valid(url: "redis://localhost/", host: "localhost"),
        Valid(url: "redis://127.0.0.1:6380/2", host: "127.0.0.1", port: 6380, database: 2),
        Valid(url: "redis://:secret@cache.internal", host: "cache.internal", password: "secret"),
        Valid(
            url: "redis://alice:s3cr%40t%3A@host:1234/15", host: "host", port: 1234, username: "alice",
            password: "s3cr@t:", database: 15
        ),
        Valid(url: "redis://user:p:a:ss@host", host: "host", username: "user", password: "p:a:ss"),
        Valid(url: "redis://u:p@ss@host", host: "host", username: "u", password: "p@ss"),
        Valid(url: "redis://[::1]:7000/1", host: "::1", port: 7000, database: 1),
        Valid(url: "redis://[::1]", host: "::1"),
        Valid(url: "REDIS://Host:65535/0", host: "Host", port: 65535),
    ]

    @Test("Valid URLs give host, port, credentials and database", arguments: valid)
    func parses(vector: Valid) throws {
        let configuration = try RedisConfiguration(url: vector.url)
        #expect(configuration.host == vector.host)
        #expect(configuration.port == vector.port)
        #expect(configuration.username == vector.username)
        #expect(configuration.password == vector.password)
        #expect(configuration.database == vector.database)
    }

    static let invalid: [String] = [
        "http://localhost",
        "localhost:6379",
        "redis:/localhost",
        "redis://",
        "redis://:6379",
        "redis://host:0",
        "redis://host:65536",
        "redis://host:abc",
        "redis://host:",
        "redis://host/x",
        "redis://host/-1",
        "redis://host/1/2",
        "redis://host/99999999999",
        "redis://user@host",
        "redis://:@host",
        "redis://host?db=1",
        "redis://host#frag",
        "redis://[::1",
        "redis://[::1]x",
        "redis://:p%zz@host",
        "redis://:p%4@host",
        "redis://bad host",
    ]

    @Test("Malformed URLs are refused as invalid", arguments: invalid)
    func refuses(url: String) {
        #expect {
            _ = try RedisConfiguration(url: url)
        } throws: { ($0 as? RedisConfigurationError)?.kind == .invalidURL }
    }

    @Test("rediss:// is recognized and refused as unsupported TLS")
    func tls() {
        #expect {
            _ = try RedisConfiguration(url: "rediss://:pw@secure.example:6380")
        } throws: { ($0 as? RedisConfigurationError)?.kind == .tlsNotSupported }
    }

    @Test("Timeouts, protocol and limits given beside the URL are kept")
    func extras() throws {
        let limits = RESPDecoderLimits(maxDepth: 8)
        let configuration = try RedisConfiguration(
            url: "redis://h", protocolPreference: .resp2, clientName: "herald", connectTimeout: .milliseconds(250),
            commandTimeout: nil, decoderLimits: limits
        )
        #expect(configuration.protocolPreference == .resp2)
        #expect(configuration.clientName == "herald")
        #expect(configuration.connectTimeout == .milliseconds(250))
        #expect(configuration.commandTimeout == nil)
        #expect(configuration.decoderLimits == limits)
    }

    @Test("Error descriptions never contain the password")
    func noPasswordInErrors() {
        do {
            _ = try RedisConfiguration(url: "redis://:hunter2@host:99999")
            Issue.record("expected an error")
        } catch {
            #expect(!"\(error)".contains("hunter2"))
        }
    }
}
