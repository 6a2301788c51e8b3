import HeraldHub
import NIOCore
import ServerSentEvents
import Testing

@Suite struct HubDeliveryTests {
    @Test func publishReachesSubscriberWithIDAndData() async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        let subscription = try await hub.subscribe(SubscribeRequest(selectors: selectors("news")))
        let (recorder, _) = record(subscription)
        let id = try await hub.publish(Update(topics: ["news"], data: "{\"hello\":\"world\"}"))
        #expect(id.hasPrefix("urn:uuid:"))
        await recorder.waitForEvents(1)
        #expect(recorder.events == [ServerSentEvent(data: "{\"hello\":\"world\"}", id: id)])
    }

    @Test func eventTypeRetryAndMultilineDataSurviveTheWire() async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        let (recorder, _) = record(try await hub.subscribe(SubscribeRequest(selectors: selectors("t"))))
        try await hub.publish(Update(topics: ["t"], data: "a\nb\r\nc", id: "e1", type: "ping", retry: 2500))
        await recorder.waitForEvents(1)
        #expect(recorder.events == [ServerSentEvent(data: "a\nb\nc", event: "ping", id: "e1")])
        #expect(recorder.elements.contains(.retry(2500)))
    }

    @Test func otherTopicsAreNotDelivered() async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        let (recorder, _) = record(try await hub.subscribe(SubscribeRequest(selectors: selectors("a"))))
        try await hub.publish(Update(topics: ["b"], data: "not for a"))
        try await hub.publish(Update(topics: ["a"], data: "for a"))
        await recorder.waitForEvents(1)
        try await Task.sleep(for: .milliseconds(50))
        #expect(recorder.events.map(\.data) == ["for a"])
    }

    @Test func templateAndWildcardSelectorsMatch() async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        let (books, _) = record(try await hub.subscribe(SubscribeRequest(selectors: selectors("https://ex.com/books/{id}"))))
        let (all, _) = record(try await hub.subscribe(SubscribeRequest(selectors: selectors("*"))))
        try await hub.publish(Update(topics: ["https://ex.com/authors/1"], data: "author"))
        try await hub.publish(Update(topics: ["https://ex.com/books/7"], data: "book"))
        await books.waitForEvents(1)
        await all.waitForEvents(2)
        #expect(books.events.map(\.data) == ["book"])
        #expect(all.events.map(\.data) == ["author", "book"])
    }

    @Test func updateMatchingSeveralSelectorsIsDeliveredOnce() async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        let (recorder, _) = record(
            try await hub.subscribe(SubscribeRequest(selectors: selectors("a", "b", "*", "{x}")))
        )
        try await hub.publish(Update(topics: ["a", "b"], data: "once"))
        try await hub.publish(Update(topics: ["c"], data: "marker"))
        await recorder.waitForEvents(2)
        try await Task.sleep(for: .milliseconds(50))
        #expect(recorder.events.map(\.data) == ["once", "marker"])
    }

    @Test func privateUpdatesNeedAMatchingClaim() async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        let (anonymous, _) = record(try await hub.subscribe(SubscribeRequest(selectors: selectors("*"))))
        let (authorized, _) = record(
            try await hub.subscribe(
                SubscribeRequest(selectors: selectors("*"), privateSelectors: selectors("https://ex.com/users/{id}"))
            )
        )
        let (otherClaim, _) = record(
            try await hub.subscribe(SubscribeRequest(selectors: selectors("*"), privateSelectors: selectors("other")))
        )
        try await hub.publish(Update(topics: ["https://ex.com/users/1"], data: "secret", isPrivate: true))
        try await hub.publish(Update(topics: ["public"], data: "public"))
        await authorized.waitForEvents(2)
        await anonymous.waitForEvents(1)
        await otherClaim.waitForEvents(1)
        try await Task.sleep(for: .milliseconds(50))
        #expect(authorized.events.map(\.data) == ["secret", "public"])
        #expect(anonymous.events.map(\.data) == ["public"])
        #expect(otherClaim.events.map(\.data) == ["public"])
    }

    @Test(arguments: [
        Update(topics: [], data: "x"),
        Update(topics: [""], data: "x"),
        Update(topics: ["t"], data: "x", id: "a\nb"),
        Update(topics: ["t"], data: "x", id: "a\rb"),
        Update(topics: ["t"], data: "x", id: "a\0b"),
        Update(topics: ["t"], data: "x", id: "earliest"),
        Update(topics: ["t"], data: "x", type: "a\nevent: evil"),
        Update(topics: ["t"], data: "x", retry: -1),
    ])
    func invalidUpdatesAreRefused(_ update: Update) async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        await #expect(throws: HubError.self) { try await hub.publish(update) }
        #expect(hub.statistics.dispatched == 0)
    }

    @Test func dataCannotInjectFields() async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        let (recorder, _) = record(try await hub.subscribe(SubscribeRequest(selectors: selectors("t"))))
        try await hub.publish(Update(topics: ["t"], data: "x\nid: forged\nevent: evil\n\ndata: second", id: "real"))
        await recorder.waitForEvents(1)
        try await Task.sleep(for: .milliseconds(50))
        #expect(recorder.events.count == 1)
        #expect(recorder.events.first?.id == "real")
        #expect(recorder.events.first?.event == nil)
        #expect(recorder.events.first?.data == "x\nid: forged\nevent: evil\n\ndata: second")
    }
}
