import HeraldHub
import struct Foundation.Date
import NIOCore
import ServerSentEvents
import Testing

@Suite struct HubLifecycleTests {
    @Test func idleStreamsGetHeartbeats() async throws {
        var configuration = HubConfiguration()
        configuration.heartbeatInterval = .milliseconds(50)
        let hub = Hub(configuration: configuration)
        defer { hub.shutdown() }
        let (recorder, _) = record(try await hub.subscribe(SubscribeRequest(selectors: selectors("quiet"))))
        await recorder.waitForElements(2, timeout: .seconds(5))
        #expect(recorder.comments.count >= 2)
        #expect(recorder.events.isEmpty)
    }

    @Test func retryHintStartsTheStream() async throws {
        var configuration = HubConfiguration()
        configuration.retryHint = 1234
        let hub = Hub(configuration: configuration)
        defer { hub.shutdown() }
        let (recorder, _) = record(try await hub.subscribe(SubscribeRequest(selectors: selectors("t"))))
        await recorder.waitForElements(1)
        #expect(recorder.elements.first == .retry(1234))
    }

    @Test func shutdownClosesStreamsWithAFinalCommentAndRefusesNewWork() async throws {
        let hub = Hub()
        let (recorder, task) = record(try await hub.subscribe(SubscribeRequest(selectors: selectors("t"))))
        try await hub.publish(Update(topics: ["t"], data: "before"))
        await recorder.waitForEvents(1)
        hub.shutdown()
        let reason = await task.value
        #expect(reason == .shutdown)
        #expect(recorder.comments.contains { $0.contains("shutting down") })
        await #expect(throws: HubError.shuttingDown) { try await hub.subscribe(SubscribeRequest(selectors: selectors("t"))) }
        await #expect(throws: HubError.shuttingDown) { try await hub.publish(Update(topics: ["t"], data: "after")) }
        #expect(hub.statistics.subscribers == 0)
    }

    @Test(.timeLimit(.minutes(1))) func aStreamEndsWhenItsAuthorizationExpiresAndOthersGoOn() async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        let expiry = Date().addingTimeInterval(0.3)
        let later = Date().addingTimeInterval(600)
        let (expiring, task) = record(
            try await hub.subscribe(SubscribeRequest(selectors: selectors("t"), authorizationExpiry: expiry))
        )
        let (lasting, _) = record(try await hub.subscribe(SubscribeRequest(selectors: selectors("t"), authorizationExpiry: later)))
        try await hub.publish(Update(topics: ["t"], data: "before"))
        await expiring.waitForEvents(1)
        #expect(await task.value == .authorizationExpired)
        #expect(Date() >= expiry)
        #expect(expiring.comments.last?.contains("authorization expired") == true)
        try await waitUntil { hub.statistics.subscribers == 1 }
        try await hub.publish(Update(topics: ["t"], data: "after"))
        await lasting.waitForEvents(2)
        #expect(lasting.events.map(\.data) == ["before", "after"])
    }

    @Test func cancelEndsTheStreamAndUnregisters() async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        let subscription = try await hub.subscribe(SubscribeRequest(selectors: selectors("t")))
        let (_, task) = record(subscription)
        #expect(hub.statistics.subscribers == 1)
        subscription.cancel()
        #expect(await task.value == .cancelled)
        try await waitUntil { hub.statistics.subscribers == 0 }
        #expect(hub.statistics.subscribers == 0)
    }

    @Test func activeSubscriptionsListTopicsAndPayload() async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        let subscription = try await hub.subscribe(
            SubscribeRequest(selectors: selectors("a", "b/{x}"), payload: "{\"name\":\"ann\"}")
        )
        let listed = hub.activeSubscriptions
        #expect(listed.count == 1)
        #expect(listed.first?.id == subscription.id)
        #expect(listed.first?.topics == ["a", "b/{x}"])
        #expect(listed.first?.payload == "{\"name\":\"ann\"}")
        subscription.cancel()
    }
}

/// Polls `condition` every 10 ms for up to `timeout`.
func waitUntil(timeout: Duration = .seconds(5), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() && ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(10))
    }
}
