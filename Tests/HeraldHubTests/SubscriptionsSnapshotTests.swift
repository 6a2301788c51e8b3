import HeraldHub
import Testing

/// The subscriptions list and the subscription events tell one story: a client that reads the
/// list and then applies the events it receives ends with the live subscriptions. Presence is
/// batched; a subscription that started and ended within one batch used to be announced not at
/// all, while the list had shown it meanwhile, so such a client kept it forever (the chat's
/// presence kept a dead connection that way after a reconnect, seen in CI).
@Suite struct SubscriptionsSnapshotTests {
    @Test func aBriefSubscriptionThatWasListedIsAnnouncedAsEnded() async throws {
        let hub = Hub(
            configuration: {
                var configuration = HubConfiguration()
                configuration.publishesSubscriptionEvents = true
                // Long enough that the brief subscription below starts and ends within one
                // batch even on a loaded machine.
                configuration.presenceBatchInterval = .seconds(2)
                return configuration
            }()
        )
        let running = Task { try await hub.run() }
        defer {
            hub.shutdown()
            running.cancel()
        }
        let watcher = try await recordPresence(of: hub)
        let brief = try await hub.subscribe(SubscribeRequest(selectors: try selectors("room")))
        // A client reads the list now: the brief subscription is in it.
        #expect(await hub.subscriptionsSnapshot().subscriptions.contains { $0.id == brief.id })
        brief.cancel()
        try await waitUntil(timeout: .seconds(10)) { watcher.events.contains { $0.data.contains(brief.id) } }
        let about = watcher.events.filter { $0.data.contains(brief.id) }
        #expect(about.count == 1, "its end only: the start never left its batch")
        #expect(about.first?.data.contains("\"active\":false") == true)
        #expect(await !hub.subscriptionsSnapshot().subscriptions.contains { $0.id == brief.id })
    }
}
