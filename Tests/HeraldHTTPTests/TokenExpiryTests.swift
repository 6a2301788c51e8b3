import HeraldHTTP
import HeraldHub
import HeraldTestSupport
import JWTKit
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A stream opened with a token ends when the token does (issue 15, item 4): the subscriber gets
/// what was published before, then a final comment saying why, then the end of the stream; a
/// stream opened without a token, beside it, goes on.
@Suite struct TokenExpiryTests {
    static let subscriberSecret = "subscriber-secret-subscriber-secret-01"

    @Test(arguments: [TestServer.Pipeline.herald, .publishHandler, .router])
    func aStreamEndsWhenItsTokenExpires(pipeline: TestServer.Pipeline) async throws {
        var http = HeraldHTTPConfiguration()
        http.subscriberKey = HeraldKey(Self.subscriberSecret)
        try await TestServer.run(http: http, pipeline: pipeline) { server in
            let withToken = try await RawConnection.open(port: server.port)
            defer { withToken.close() }
            let anonymous = try await RawConnection.open(port: server.port)
            defer { anonymous.close() }
            // Signed once both connections are up, with room for a loaded machine to open the
            // stream before the token ends (a 401 then would fail the test, not hide a bug).
            let expires = Date().addingTimeInterval(2.5)
            let token = try await HeraldKey(Self.subscriberSecret).sign(
                MercureClaims(exp: .init(value: expires), mercure: .init(subscribe: ["https://example.com/secret"]))
            )
            let get = "GET /.well-known/mercure?topic=https%3A%2F%2Fexample.com%2Fsecret HTTP/1.1\r\nHost: x\r\n"
            try await withToken.send(get + "Authorization: Bearer \(token)\r\n\r\n")
            try await anonymous.send(get + "\r\n")
            try await waitUntil { server.hub.statistics.subscribers == 2 }

            _ = try await server.hub.publish(Update(topics: ["https://example.com/secret"], data: "for the holder", isPrivate: true))
            _ = try await withToken.read { $0.contains("data: for the holder") }

            let ended = try await withToken.readToClose()
            #expect(Date() >= expires, "closed before the token expired")
            #expect(ended.contains(": herald: authorization expired"))
            if pipeline != .router {
                // Raw HTTP/1 streams end their chunked body before closing.
                #expect(ended.hasSuffix("0\r\n\r\n"))
            }
            // The anonymous stream beside it is still served.
            _ = try await server.hub.publish(Update(topics: ["https://example.com/secret"], data: "public"))
            _ = try await anonymous.read { $0.contains("data: public") }
            #expect(!anonymous.isClosed)
            #expect(server.hub.statistics.subscribers == 1)
        }
    }
}
