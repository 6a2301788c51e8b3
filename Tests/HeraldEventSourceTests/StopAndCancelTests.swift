import Foundation
import HeraldEventSource
import HeraldTesting
import NIOConcurrencyHelpers
import Testing

@Suite("Final answers, cancellation, tokens, decoding, gap")
struct StopAndCancelTests {
    /// Answers that reconnecting cannot fix stop the source with a typed error, after exactly
    /// one request, and the iterator is finished afterwards.
    @Test(arguments: [
        (Reply.status("204 No Content"), EventSourceError.noContent),
        (Reply.status("500 Internal Server Error", body: "boom"), .status(code: 500, reason: "boom")),
        (Reply.status("404 Not Found", body: "no such stream"), .status(code: 404, reason: "no such stream")),
        (Reply.stream(Array("data: x\n\n".utf8), contentType: "text/plain"), .contentType("text/plain")),
        (Reply.stream(Array("data: x\n\n".utf8), contentType: "text/event-streams"), .contentType("text/event-streams")),
    ])
    func finalAnswerStopsWithTypedError(reply: Reply, expected: EventSourceError) async throws {
        try await ScriptedServer.run(script: { _ in reply }) { server in
            let source = EventSource(url: server.url, configuration: immediate())
            let (error, afterwards) = try await withTimeout(.seconds(10), "the final answer") { () async throws -> (EventSourceError?, EventSource.Event?) in
                var iterator = source.makeAsyncIterator()
                var thrown: (any Error)?
                do {
                    while try await iterator.next() != nil {}
                } catch {
                    thrown = error
                }
                return (thrown as? EventSourceError, try await iterator.next())
            }
            #expect(error == expected)
            #expect(afterwards == nil)
            var events = server.events.makeAsyncIterator()
            #expect(await events.nextRequest()?.connection == 0)
        }
    }

    /// A line beyond the parser's bound ends the stream with the typed error (bounded memory
    /// against a broken or hostile server), however the line is split.
    @Test func overlongLineStopsTheStream() async throws {
        let body = Array("data: ".utf8) + Array(repeating: UInt8(ascii: "x"), count: 200) + Array("\n\n".utf8)
        try await ScriptedServer.run(script: { _ in .stream(body, splits: [10, 50, 100], end: .holdOpen) }) { server in
            let source = EventSource(url: server.url, configuration: immediate { $0.maxBufferedBytes = 64 })
            let error = try await withTimeout(.seconds(10), "the parser limit") { () async throws -> EventSourceError? in
                do {
                    for try await event in source {
                        if case .message = event { return nil }
                    }
                    return nil
                } catch let error as EventSourceError {
                    return error
                }
            }
            #expect(error == .streamFormat(.lineTooLong(limit: 64)))
            // And the connection it gave up on is closed.
            #expect(try await withTimeout(.seconds(10), "the close") { await server.events.clientClosed(0) })
        }
    }

    /// A MIME type with parameters, other case or spaces is still an event stream.
    @Test(arguments: ["text/event-stream; charset=utf-8", "Text/Event-Stream", " text/event-stream ;"])
    func eventStreamWithParametersIsAccepted(contentType: String) async throws {
        try await ScriptedServer.run(script: { _ in .stream(Array("data: x\n\n".utf8), contentType: contentType) }) { server in
            let source = EventSource(url: server.url, configuration: immediate())
            let message = try await withTimeout(.seconds(10), "a message") {
                var iterator = source.makeAsyncIterator()
                return try await iterator.nextMessage()
            }
            #expect(message?.data == "x")
        }
    }

    /// Cancelling the iterating task closes the connection: the server reads EOF.
    @Test func cancellationClosesTheConnection() async throws {
        try await ScriptedServer.run(script: { _ in .stream("data: a\n\n", end: .holdOpen) }) { server in
            let source = EventSource(url: server.url, configuration: immediate())
            let (gotFirst, firstContinuation) = AsyncStream<Void>.makeStream()
            let reader = Task {
                var iterator = source.makeAsyncIterator()
                _ = try await iterator.nextMessage()
                firstContinuation.yield()
                while try await iterator.next() != nil {}
            }
            try await withTimeout(.seconds(10), "the first message") {
                for await _ in gotFirst { return }
            }
            reader.cancel()
            let closed = try await withTimeout(.seconds(10), "the server to see the close") { await server.events.clientClosed(0) }
            #expect(closed)
            let result = await reader.result
            #expect(throws: CancellationError.self) { try result.get() }
        }
    }

    /// Leaving the loop early (the iterator is dropped) closes the connection too.
    @Test func leavingTheLoopClosesTheConnection() async throws {
        try await ScriptedServer.run(script: { _ in .stream("data: a\n\ndata: b\n\n", end: .holdOpen) }) { server in
            let source = EventSource(url: server.url, configuration: immediate())
            let first = try await withTimeout(.seconds(10), "the first message") { () async throws -> String? in
                for try await event in source {
                    if case .message(let message) = event { return message.data }
                }
                return nil
            }
            #expect(first == "a")
            let closed = try await withTimeout(.seconds(10), "the server to see the close") { await server.events.clientClosed(0) }
            #expect(closed)
        }
    }

    /// A 401 to a token the provider gave earlier: a new token at once (no back-off wait), the
    /// stream goes on. A 401 to a fresh token is final.
    @Test func unauthorizedFetchesANewTokenOnce() async throws {
        let calls = NIOLockedValueBox(0)
        let provider: AccessTokenProvider = {
            calls.withLockedValue { count in
                count += 1
                return "token-\(count)"
            }
        }
        try await ScriptedServer.run(script: { request in
            request.headers["authorization"] == "Bearer token-1"
                ? (request.connection == 0 ? .stream("id: 1\ndata: a\n\n") : .status("401 Unauthorized", body: "expired"))
                : .stream("data: b\n\n", end: .holdOpen)
        }) { server in
            var configuration = immediate()
            configuration.reconnectionTime = .milliseconds(1)
            let source = EventSource(url: server.url, configuration: configuration, tokenProvider: provider)
            let events = try await withTimeout(.seconds(10), "the stream with the second token") {
                var iterator = source.makeAsyncIterator()
                var events: [EventSource.Event] = []
                while let event = try await iterator.next() {
                    events.append(event)
                    if case .message(let message) = event, message.data == "b" { break }
                }
                return events
            }
            // open, a, reconnecting (server closed), [401: no event, no wait], open, b
            #expect(events.filter { if case .reconnecting = $0 { true } else { false } }.count == 1)
            #expect(calls.withLockedValue { $0 } == 2)
            var requests = server.events.makeAsyncIterator()
            let seen = [await requests.nextRequest(), await requests.nextRequest(), await requests.nextRequest()]
            #expect(seen.map { $0?.headers["authorization"] } == ["Bearer token-1", "Bearer token-1", "Bearer token-2"])
            #expect(seen.map { $0?.headers["last-event-id"] } == [nil, "1", "1"])
        }

        try await ScriptedServer.run(script: { _ in .status("401 Unauthorized", body: "bad token") }) { server in
            let source = EventSource(url: server.url, configuration: immediate(), tokenProvider: { "always-refused" })
            let error = try await withTimeout(.seconds(10), "the final 401") {
                var iterator = source.makeAsyncIterator()
                do {
                    while try await iterator.next() != nil {}
                    return nil as EventSourceError?
                } catch let error as EventSourceError {
                    return error
                }
            }
            #expect(error == .status(code: 401, reason: "bad token"))
        }
    }

    /// A JWT whose `exp` passes is replaced before the reconnect (the hub closes a stream when
    /// its token expires; the client resumes with a fresh token and its last id, losing nothing).
    @Test func expiringTokenIsReplacedBeforeReconnecting() async throws {
        let calls = NIOLockedValueBox(0)
        let provider: AccessTokenProvider = {
            let count = calls.withLockedValue { count in
                count += 1
                return count
            }
            // The first token expires 1 s from now, the next in an hour.
            let exp = Int(Date().timeIntervalSince1970) + (count == 1 ? 1 : 3600)
            return Self.jwt(["exp": exp, "n": count])
        }
        try await ScriptedServer.run(script: { request in
            // The server closes the first stream once the first token has expired, as the hub does.
            request.connection == 0
                ? .stream(Array("id: 1\ndata: a\n\n".utf8), end: .closeAfter(.milliseconds(2100)))
                : .stream("data: b\n\n", end: .holdOpen)
        }) { server in
            var configuration = immediate()
            configuration.tokenRefreshLeeway = .zero
            let source = EventSource(url: server.url, configuration: configuration, tokenProvider: provider)
            let second = try await withTimeout(.seconds(15), "the stream with the second token") {
                var iterator = source.makeAsyncIterator()
                _ = try await iterator.nextMessage()
                return try await iterator.nextMessage()
            }
            #expect(second?.data == "b")
            #expect(second?.id == "1")
            #expect(calls.withLockedValue { $0 } == 2)
            var requests = server.events.makeAsyncIterator()
            let first = await requests.nextRequest()
            let next = await requests.nextRequest()
            #expect(first?.headers["authorization"] != next?.headers["authorization"])
            #expect(next?.headers["authorization"]?.hasPrefix("Bearer ey") == true)
            #expect(next?.headers["last-event-id"] == "1")
        }
    }

    /// A token that does not expire soon is reused across reconnects (the provider is not
    /// called per connection).
    @Test func validTokenIsReused() async throws {
        let calls = NIOLockedValueBox(0)
        let provider: AccessTokenProvider = {
            calls.withLockedValue { $0 += 1 }
            return Self.jwt(["exp": Int(Date().timeIntervalSince1970) + 3600])
        }
        try await ScriptedServer.run(script: { request in
            request.connection < 2 ? .stream("data: a\n\n") : .stream("data: c\n\n", end: .holdOpen)
        }) { server in
            let source = EventSource(url: server.url, configuration: immediate(), tokenProvider: provider)
            try await withTimeout(.seconds(10), "three connections") {
                var iterator = source.makeAsyncIterator()
                _ = try await iterator.oneConnection()
                _ = try await iterator.oneConnection()
                _ = try await iterator.nextMessage()
            }
            #expect(calls.withLockedValue { $0 } == 1)
        }
    }

    struct Book: Decodable, Sendable, Equatable {
        var title: String
        var pages: Int
    }

    @Test func messagesDecodeFromJSON() async throws {
        let body = #"data: {"title":"Dune","pages":412}"# + "\n\n: heartbeat\n\n" + #"data: {"title":"Emma",\#ndata: "pages":474}"# + "\n\n"
        try await ScriptedServer.run(script: { _ in .stream(body, end: .holdOpen) }) { server in
            let source = EventSource(url: server.url, configuration: immediate())
            let books = try await withTimeout(.seconds(10), "two books") {
                var books: [Book] = []
                for try await book in source.messages(decoding: Book.self) {
                    books.append(book)
                    if books.count == 2 { break }
                }
                return books
            }
            #expect(books == [Book(title: "Dune", pages: 412), Book(title: "Emma", pages: 474)])
        }
    }

    /// Herald's `herald-gap` event is its own case, not a message.
    @Test func heraldGapIsItsOwnCase() async throws {
        let body = "event: herald-gap\ndata: {\"lastEventID\":\"old\"}\n\nid: 9\ndata: live\n\n"
        try await ScriptedServer.run(script: { _ in .stream(body, end: .holdOpen) }) { server in
            let source = EventSource(url: server.url, configuration: immediate { $0.lastEventID = "old" })
            let events = try await withTimeout(.seconds(10), "gap and message") {
                var events: [EventSource.Event] = []
                for try await event in source {
                    events.append(event)
                    if events.count == 3 { break }
                }
                return events
            }
            #expect(events.count == 3)
            #expect(events.first == .open)
            guard events.count == 3, case .gap(let gap) = events[1], case .message(let message) = events[2] else {
                Issue.record("expected open, gap, message: \(events)")
                return
            }
            #expect(gap.lastEventID == "old")
            #expect(message.data == "live")
            #expect(message.id == "9")
        }
    }

    static func jwt(_ claims: [String: Any]) -> String {
        func base64URL(_ data: Data) -> String {
            data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        let header = base64URL(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let payload = base64URL(try! JSONSerialization.data(withJSONObject: claims))
        return "\(header).\(payload).c2lnbmF0dXJl"
    }
}
