import HeraldEventSource
import HeraldHTTP
import HeraldHub
import HeraldTesting
import Hummingbird
import Testing

/// HeraldTesting as an app uses it: its own route publishes, its test reads what a subscriber got.
@Suite struct TestHubTests {
    /// An app's route that publishes (what the DocC article shows).
    static func addOrderRoutes(to router: Router<HeraldRequestContext>, hub: Hub) {
        router.post("/orders/:id/ship") { _, context in
            let id = try context.parameters.require("id")
            try await hub.publish(Update(topics: ["/orders/\(id)"], data: #"{"status":"shipped"}"#))
            return HTTPResponse.Status.noContent
        }
    }

    @Test func anAppRouteThatPublishesIsSeenBySubscribers() async throws {
        try await TestHub.run(routes: { router, endpoint in Self.addOrderRoutes(to: router, hub: endpoint.hub) }) { hub in
            let order = try await hub.subscribe(topics: ["/orders/{id}"])
            #expect(try await hub.request("/orders/42/ship", method: .POST).status == 204)
            let event = try await order.next()
            #expect(event.data == #"{"status":"shipped"}"#)
            #expect(event.id?.hasPrefix("urn:uuid:") == true)
        }
    }

    @Test func collectReturnsEventsInPublishOrderOnce() async throws {
        try await TestHub.run { hub in
            let news = try await hub.subscribe(topics: ["news"])
            for n in 1...3 { try await hub.publish(topic: "news", data: "\(n)") }
            #expect(try await news.collect(2).map(\.data) == ["1", "2"])
            #expect(try await news.next().data == "3")
            #expect(news.received.map(\.data) == ["1", "2", "3"])
        }
    }

    @Test func aWaitThatRunsOutThrowsAndLosesNothing() async throws {
        try await TestHub.run { hub in
            let news = try await hub.subscribe(topics: ["news"])
            await #expect(throws: TimedOut.self) { try await news.next(timeout: .milliseconds(100)) }
            try await hub.publish(topic: "news", data: "late")
            #expect(try await news.next().data == "late")
        }
    }

    @Test func privateUpdatesReachOnlyTokenHolders() async throws {
        try await TestHub.run(key: TestHub.defaultKey) { hub in
            let publisher = try await hub.mintToken(publish: ["*"])
            let alice = try await hub.subscribe(topics: ["/inbox/alice"], token: try await hub.mintToken(subscribe: ["/inbox/{who}"]))
            let anonymous = try await hub.subscribe(topics: ["/inbox/alice"])
            try await hub.publish(topics: ["/inbox/alice"], data: "secret", isPrivate: true, token: publisher)
            try await hub.publish(topics: ["/inbox/alice"], data: "public", token: publisher)
            #expect(try await alice.collect(2).map(\.data) == ["secret", "public"])
            // Updates arrive in order: the public one first means the private one was never sent.
            #expect(try await anonymous.next().data == "public")
            // Without a token the hub refuses the publish.
            await #expect(throws: MercureError.self) { try await hub.publish(topic: "/inbox/alice", data: "x") }
        }
    }

    @Test func accessTokensOfMercure1AreAccepted() async throws {
        try await TestHub.run(key: TestHub.defaultKey) { hub in
            let url = try #require(hub.url)
            let token = try await TestHub.mintAccessToken(key: TestHub.defaultKey, audience: url, publish: [.init("news")])
            let news = try await hub.subscribe(topics: ["news"])
            try await hub.publish(topic: "news", data: "1.0", token: token)
            #expect(try await news.next().data == "1.0")
            let elsewhere = try await TestHub.mintAccessToken(key: TestHub.defaultKey, audience: "https://other.example/.well-known/mercure", publish: [.init("news")])
            await #expect(throws: MercureError.self) { try await hub.publish(topic: "news", data: "x", token: elsewhere) }
        }
    }

    @Test func inProcessHubsNeedNoServer() async throws {
        try await TestHub.inProcess { hub in
            #expect(hub.url == nil)
            let scores = try await hub.subscribe(topics: ["/scores/{match}"])
            let insider = try await hub.subscribe(topics: ["/scores/{match}"], receivesPrivateUpdates: true)
            try await hub.publish(topics: ["/scores/1"], data: "private", isPrivate: true)
            try await hub.hub.publish(Update(topics: ["/scores/1"], data: "1-0"))
            #expect(try await insider.collect(2).map(\.data) == ["private", "1-0"])
            #expect(try await scores.next().data == "1-0")
            await #expect(throws: TestHubError.notServed) { _ = try await hub.request("/") }
            await #expect(throws: TestHubError.noKey) { _ = try await hub.mintToken(publish: ["*"]) }
        }
    }

    @Test func replayFromALastEventID() async throws {
        try await TestHub.run { hub in
            let first = try await hub.publish(topic: "news", data: "a")
            try await hub.publish(topic: "news", data: "b")
            let late = try await hub.subscribe(topics: ["news"], lastEventID: first)
            #expect(try await late.next().data == "b")
            let unknown = try await hub.subscribe(topics: ["news"], lastEventID: "urn:uuid:never-published")
            #expect(try await unknown.next().event == Hub.gapEventType)
        }
    }

    @Test func withTimeoutReturnsOrThrows() async throws {
        #expect(try await withTimeout(.seconds(5)) { 42 } == 42)
        let error = await #expect(throws: TimedOut.self) {
            try await withTimeout(.milliseconds(50), "a sleeper") { try await Task.sleep(for: .seconds(30)) }
        }
        #expect(error?.description.contains("a sleeper") == true)
    }
}
