import Foundation
import HeraldClient
import HeraldHTTP
import HeraldHub
import HeraldTestSupport
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// The publish channel handler answers what it can on the event loop and hands everything
/// else, unchanged and in order, to the router.
@Suite struct PublishFastPathTests {
    @Test func keylessLoopbackPublishIsAnsweredOnTheEventLoop() async throws {
        try await TestServer.run { server in
            let client = try server.client()
            let (events, close) = try await client.subscribe(topics: ["fast"])
            defer { close() }
            let (status, body) = try await post(server, body: "topic=fast&data=hello")
            #expect(status == 200)
            #expect(body.hasPrefix("urn:uuid:") && !body.hasSuffix("\n"))
            #expect(server.endpoint.fastPathPublishes == 1)
            let event = try await firstEvent(events)
            #expect(event?.data == "hello")
            #expect(event?.id == body)
        }
    }

    @Test func badInputStillGetsTheRoutersAnswer() async throws {
        try await TestServer.run { server in
            let (status, reason) = try await post(server, body: "data=no-topic")
            #expect(status == 400 && reason == "missing topic\n")
            #expect(try await postStatus(server, body: "topic=t&data=x", contentType: "text/plain") == 415)
            #expect(try await postStatus(server, body: "topic=t&id=a%0Ab") == 400)
            #expect(server.endpoint.fastPathPublishes == 0)
        }
    }

    @Test(arguments: [TestServer.Pipeline.herald, .publishHandler])
    func pipelinedRequestsAreAnsweredInOrder(pipeline: TestServer.Pipeline) async throws {
        try await TestServer.run(pipeline: pipeline) { server in
            // valid (here), invalid (router), valid (router: an earlier answer is pending), valid.
            let form = "topic=p&data=x"
            let valid = "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\n"
                + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(form.utf8.count)\r\n\r\n\(form)"
            let invalid = "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\n"
                + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 6\r\n\r\ndata=x"
            let raw = try await RawConnection.open(port: server.port)
            defer { raw.close() }
            try await raw.send(valid + invalid + valid + valid)
            let text = try await raw.read { $0.components(separatedBy: "HTTP/1.1 ").count - 1 >= 4 }
            let statuses = text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { String($0.prefix(3)) }
            #expect(statuses == ["200", "400", "200", "200"])
            #expect(server.hub.statistics.historyCount == 3)
            #expect(server.endpoint.fastPathPublishes >= 1)
        }
    }

    @Test func aVerifiedBearerTokenIsReusedOnTheEventLoop() async throws {
        let key = HeraldKey("publisher-secret-publisher-secret-0001")
        var http = HeraldHTTPConfiguration()
        http.publisherKey = key
        try await TestServer.run(http: http) { server in
            let client = try server.client()
            let token = try await key.sign(MercureClaims(mercure: .init(publish: ["books/{id}"])))
            _ = try await client.publish(topics: ["books/1"], data: "first", token: token)
            #expect(server.endpoint.fastPathPublishes == 0)  // verified by the router, remembered
            _ = try await client.publish(topics: ["books/2"], data: "second", token: token)
            #expect(server.endpoint.fastPathPublishes == 1)
            // Outside the token's claim: refused by the router, both times.
            let headers = [("Authorization", "Bearer \(token)")]
            #expect(try await postStatus(server, body: "topic=films/1&data=x", headers: headers) == 403)
            #expect(try await postStatus(server, body: "topic=films/1&data=x", headers: headers) == 403)
            // A token never verified, with a bad signature: the router refuses it.
            let forged = try await HeraldKey("another-secret-another-secret-another-1").sign(
                MercureClaims(mercure: .init(publish: ["*"]))
            )
            #expect(try await postStatus(server, body: "topic=books/3&data=x", headers: [("Authorization", "Bearer \(forged)")]) == 401)
            #expect(server.endpoint.fastPathPublishes == 1)
            #expect(server.hub.statistics.historyCount == 2)
        }
    }

    @Test func withoutTheHandlerEveryPublishGoesThroughTheRouter() async throws {
        try await TestServer.run(pipeline: .router, mount: { _, _ in }) { server in
            let status = try await postStatus(server, body: "topic=t&data=x")
            #expect(status == 200)
            #expect(server.endpoint.fastPathPublishes == 0)
        }
    }
}

/// The status of a raw POST to the hub.
private func postStatus(
    _ server: TestServer,
    body: String,
    contentType: String? = "application/x-www-form-urlencoded",
    headers: [(String, String)] = []
) async throws -> Int {
    let (status, _) = try await post(server, body: body, contentType: contentType, headers: headers)
    return status
}
