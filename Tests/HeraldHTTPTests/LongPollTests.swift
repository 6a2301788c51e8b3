import HeraldClient
import HeraldHTTP
import HeraldHub
import HeraldTestSupport
import JWTKit
import NIOCore
import NIOHTTP1
import ServerSentEvents
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Clients that cannot stream (issue 15 item 2): long-polling, the polyfills' query names for
/// the last event id, and padding. Every test runs on every pipeline: the protocol core
/// decides, whichever transport read the request.
@Suite struct LongPollTests {
    static let pipelines: [TestServer.Pipeline] = [.herald, .publishHandler, .router]

    /// A GET that ends: status, header fields, body.
    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: String

        /// The body read by the same parser a stream's client uses.
        var events: [ServerSentEvent] {
            var parser = ServerSentEventParser()
            var elements = (try? parser.feed(Array(body.utf8))) ?? []
            elements += parser.finish()
            return elements.compactMap { element in
                if case .event(let event) = element { return event }
                return nil
            }
        }

        var next: String? { headers.first(name: "Last-Event-ID") }
    }

    static func request(_ server: TestServer, _ query: String, headers extra: [(String, String)] = []) async throws -> Answer {
        let http = try HTTPStreamingClient(baseURL: server.baseURL)
        var headers = HTTPHeaders()
        for (name, value) in extra { headers.add(name: name, value: value) }
        let response = try await http.send(method: .GET, path: "/.well-known/mercure?" + query, headers: headers)
        return Answer(status: Int(response.status.code), headers: response.headers, body: try await response.text())
    }

    static func publish(_ server: TestServer, _ topic: String, _ data: String, private isPrivate: Bool = false) async throws -> String {
        var update = Update(topics: [topic], data: data)
        update.isPrivate = isPrivate
        return try await server.hub.publish(update)
    }

    @Test(arguments: pipelines)
    func theEventsAfterTheIDComeAtOnceWithTheIDToContinueFrom(pipeline: TestServer.Pipeline) async throws {
        try await TestServer.run(pipeline: pipeline) { server in
            let first = try await Self.publish(server, "p", "one")
            _ = try await Self.publish(server, "other", "not mine")
            _ = try await Self.publish(server, "p", "two")
            let third = try await Self.publish(server, "p", "three")
            let answer = try await Self.request(server, "topic=p&poll=1&lastEventID=\(first)")
            #expect(answer.status == 200)
            #expect(answer.headers.first(name: "Content-Type") == "text/event-stream")
            #expect(answer.events.map(\.data) == ["two", "three"])
            #expect(answer.next == third)
            // Polling again from there: nothing yet; `wait=0` answers with that at once.
            let again = try await Self.request(server, "topic=p&poll=1&wait=0&lastEventID=\(third)")
            #expect(again.status == 200 && again.body.isEmpty)
            #expect(again.next == third)
            try await waitUntil { server.hub.statistics.subscribers == 0 }
            #expect(server.hub.statistics.subscribers == 0)
        }
    }

    @Test(arguments: pipelines)
    func aPollWaitsAndReturnsWithTheFirstPublish(pipeline: TestServer.Pipeline) async throws {
        try await TestServer.run(pipeline: pipeline) { server in
            let before = try await Self.publish(server, "w", "before")
            async let polled = Self.request(server, "topic=w&poll=1&lastEventID=\(before)")
            try await waitUntil { server.hub.statistics.subscribers == 1 }
            let live = try await Self.publish(server, "w", "live")
            let answer = try await polled
            #expect(answer.status == 200)
            #expect(answer.events.map(\.data) == ["live"])
            #expect(answer.events.first?.id == live)
            #expect(answer.next == live)
            // The wait was a subscription that ended with its answer: nothing is kept.
            try await waitUntil { server.hub.statistics.subscribers == 0 }
            #expect(server.hub.statistics.subscribers == 0)
        }
    }

    @Test(arguments: pipelines)
    func aPollWithNothingToSayEndsEmptyAfterItsWait(pipeline: TestServer.Pipeline) async throws {
        var http = HeraldHTTPConfiguration()
        http.longPollTimeout = .milliseconds(300)
        try await TestServer.run(http: http, pipeline: pipeline) { server in
            // No id and an empty history: continue from `earliest` (whatever comes is new).
            let empty = try await Self.request(server, "topic=t&poll=1")
            #expect(empty.status == 200 && empty.body.isEmpty)
            #expect(empty.next == Update.earliestID)
            let newest = try await Self.publish(server, "elsewhere", "x")
            // No id: from now on; an empty answer names the newest id, which skips nothing.
            let timedOut = try await Self.request(server, "topic=t&poll=1&wait=3600")
            #expect(timedOut.status == 200 && timedOut.body.isEmpty)
            #expect(timedOut.next == newest)
            try await waitUntil { server.hub.statistics.subscribers == 0 }
            #expect(server.hub.statistics.subscribers == 0)
        }
    }

    @Test(arguments: pipelines)
    func anUnknownIDGetsTheGapSignal(pipeline: TestServer.Pipeline) async throws {
        try await TestServer.run(pipeline: pipeline) { server in
            let newest = try await Self.publish(server, "g", "old")
            let answer = try await Self.request(server, "topic=g&poll=1&wait=0&lastEventID=gone")
            #expect(answer.status == 200)
            #expect(answer.events.map(\.event) == [Hub.gapEventType])
            #expect(answer.events.first?.data == #"{"lastEventID":"gone"}"#)
            #expect(answer.events.first?.id == nil)
            #expect(answer.next == newest)
            // `earliest` is never a gap: all retained history.
            let all = try await Self.request(server, "topic=g&poll=1&lastEventID=earliest")
            #expect(all.events.map(\.data) == ["old"])
        }
    }

    @Test(arguments: pipelines)
    func privateUpdatesNeedTheToken(pipeline: TestServer.Pipeline) async throws {
        try await TestServer.run(http: AuthorizationTests.configuration(), pipeline: pipeline) { server in
            _ = try await Self.publish(server, "https://example.com/s", "secret", private: true)
            let shown = try await Self.publish(server, "https://example.com/s", "public")
            let anonymous = try await Self.request(server, "topic=https://example.com/s&poll=1&lastEventID=earliest")
            #expect(anonymous.events.map(\.data) == ["public"])
            #expect(anonymous.next == shown)
            let token = try await AuthorizationTests.token(
                key: "subscriber-secret-subscriber-secret-01",
                publish: nil,
                subscribe: ["https://example.com/{x}"]
            )
            let viaHeader = try await Self.request(
                server,
                "topic=https://example.com/s&poll=1&lastEventID=earliest",
                headers: [("Authorization", "Bearer \(token)")]
            )
            #expect(viaHeader.events.map(\.data) == ["secret", "public"])
            let viaQuery = try await Self.request(server, "topic=https://example.com/s&poll=1&lastEventID=earliest&authorization=\(token)")
            #expect(viaQuery.events.map(\.data) == ["secret", "public"])
            // A bad token is refused as it is for a stream.
            let refused = try await Self.request(server, "topic=https://example.com/s&poll=1", headers: [("Authorization", "Bearer nope")])
            #expect(refused.status == 401)
        }
    }

    @Test(arguments: pipelines)
    func pollsHaveTheStreamsLimits(pipeline: TestServer.Pipeline) async throws {
        var hub = HubConfiguration()
        hub.maxSelectors = 2
        try await TestServer.run(hub: hub, pipeline: pipeline) { server in
            let tooMany = try await Self.request(server, "topic=a&topic=b&topic=c&poll=1")
            #expect(tooMany.status == 400 && tooMany.body.contains("too many topics"))
            let noTopic = try await Self.request(server, "poll=1")
            #expect(noTopic.status == 400)
            for bad in ["poll=yes", "poll=1&wait=soon", "poll=1&wait=-1", "poll=1&poll=1", "padding=2"] {
                let answer = try await Self.request(server, "topic=a&" + bad)
                #expect(answer.status == 400, "\(bad)")
            }
            #expect(server.hub.statistics.subscriptionsOpened == 0)
        }
    }

    @Test(arguments: pipelines)
    func thePollingPolyfillsHeaderMakesAPoll(pipeline: TestServer.Pipeline) async throws {
        try await TestServer.run(pipeline: pipeline) { server in
            let first = try await Self.publish(server, "x", "one")
            let second = try await Self.publish(server, "x", "two")
            // Remy Sharp's polyfill: X-Requested-With and the Last-Event-ID header; it reads the
            // answer once it ends.
            let answer = try await Self.request(
                server,
                "topic=x",
                headers: [("X-Requested-With", "XMLHttpRequest"), ("Last-Event-ID", first)]
            )
            #expect(answer.status == 200)
            #expect(answer.events.map(\.data) == ["two"])
            #expect(answer.next == second)
        }
    }

    @Test(arguments: pipelines)
    func theLastEventIDComesFromTheHeaderThenEachQueryName(pipeline: TestServer.Pipeline) async throws {
        try await TestServer.run(pipeline: pipeline) { server in
            let ids = [
                try await Self.publish(server, "q", "1"), try await Self.publish(server, "q", "2"),
                try await Self.publish(server, "q", "3"), try await Self.publish(server, "q", "4"),
            ]
            func replay(_ query: String, header: String? = nil) async throws -> [String] {
                let headers = header.map { [("Last-Event-ID", $0)] } ?? []
                return try await Self.request(server, "topic=q&poll=1&wait=0&" + query, headers: headers).events.map(\.data)
            }
            #expect(try await replay("lastEventId=\(ids[2])") == ["4"])  // the polyfills' name
            #expect(try await replay("last_event_id=\(ids[1])") == ["3", "4"])  // Mercure 1.0, nchan
            #expect(try await replay("lastEventID=\(ids[0])") == ["2", "3", "4"])  // Mercure 0.x
            // Precedence: header, last_event_id, lastEventID, lastEventId; empty ones are skipped.
            let all = "last_event_id=\(ids[1])&lastEventID=\(ids[0])&lastEventId=\(ids[0])"
            #expect(try await replay(all, header: ids[2]) == ["4"])
            #expect(try await replay(all, header: "") == ["3", "4"])
            #expect(try await replay("last_event_id=&lastEventID=\(ids[0])&lastEventId=\(ids[2])") == ["2", "3", "4"])
            #expect(try await replay("lastEventID=&lastEventId=\(ids[2])") == ["4"])
        }
    }

    @Test(arguments: pipelines)
    func aStreamResumesFromThePolyfillsQueryName(pipeline: TestServer.Pipeline) async throws {
        try await TestServer.run(pipeline: pipeline) { server in
            let first = try await Self.publish(server, "s", "one")
            _ = try await Self.publish(server, "s", "two")
            let (stream, close) = try await subscribeRaw(server, "/.well-known/mercure?topic=s&lastEventId=\(first)")
            defer { close() }
            _ = try await Self.publish(server, "s", "three")
            #expect(try await events(stream, count: 2).map(\.data) == ["two", "three"])
        }
    }

    @Test(arguments: pipelines)
    func aStreamThatAsksForPaddingStartsWith2KiBOfComment(pipeline: TestServer.Pipeline) async throws {
        var hub = HubConfiguration()
        hub.retryHint = 1500
        try await TestServer.run(hub: hub, pipeline: pipeline) { server in
            let http = try HTTPStreamingClient(baseURL: server.baseURL)
            let response = try await http.send(method: .GET, path: "/.well-known/mercure?topic=pad&padding=1")
            defer { response.close() }
            #expect(response.status.code == 200)
            try await waitUntil { server.hub.statistics.subscribers == 1 }
            _ = try await Self.publish(server, "pad", "after")
            var body = ""
            for try await chunk in response.body {
                body += String(buffer: chunk)
                if body.contains("data: after\n\n") { break }
            }
            let padding = ":" + String(repeating: " ", count: 2046) + "\n"
            #expect(padding.utf8.count == 2048)
            #expect(body.hasPrefix("retry: 1500\n\n" + padding + "id: "), "\(body.prefix(40))")
            // Without the parameter, no padding.
            let (plain, closePlain) = try await subscribeRaw(server, "/.well-known/mercure?topic=pad&lastEventID=earliest")
            defer { closePlain() }
            var sawComment = false
            for try await element in plain {
                if case .comment = element { sawComment = true }
                if case .event = element { break }
            }
            #expect(!sawComment)
        }
    }

    @Test func heartbeatsStayUnder30SecondsByDefault() throws {
        let interval = try #require(HubConfiguration().heartbeatInterval)
        #expect(interval > .zero && interval < .seconds(30))
        #expect(HeraldHTTPConfiguration().longPollTimeout < .seconds(30))
    }
}
