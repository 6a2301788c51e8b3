import NIOCore
import ServerSentEvents
import Testing

@testable import HeraldHub

/// The hub's bounds on what one subscriber or publisher may ask for, the shared selector cache,
/// and presence that cannot crowd real updates out.
@Suite struct HubLimitsTests {
    static func hub(_ configure: (inout HubConfiguration) -> Void = { _ in }) -> Hub {
        var configuration = HubConfiguration()
        configure(&configuration)
        return Hub(configuration: configuration)
    }

    @Test func selectorCountIsBounded() async throws {
        let hub = Self.hub { $0.maxSelectors = 3 }
        defer { hub.shutdown() }
        #expect(try hub.selectors(["a", "b", "c"]).count == 3)
        #expect(throws: HubError.invalidSubscription("too many topics (max 3)")) { try hub.selectors(["a", "b", "c", "d"]) }
        // The hub checks a request built without `selectors(_:)` too.
        await #expect(throws: HubError.invalidSubscription("too many topics (max 3)")) {
            try await hub.subscribe(SubscribeRequest(selectors: selectors("a", "b", "c", "d")))
        }
        #expect(HubConfiguration().maxSelectors == 64)
    }

    @Test func selectorAndTopicLengthsAreBounded() async throws {
        let hub = Self.hub { $0.maxTopicLength = 100 }
        defer { hub.shutdown() }
        let longest = String(repeating: "t", count: 100)
        #expect(try hub.selectors([longest, "{x}" + String(repeating: "a", count: 97)]).count == 2)
        let error = #expect(throws: HubError.self) { try hub.selectors([longest + "t"]) }
        #expect(error?.description.contains("longer than 100 bytes") == true)
        await #expect(throws: HubError.self) {
            try await hub.subscribe(SubscribeRequest(selectors: [try TopicSelector(longest + "t")]))
        }
        // Publishing: the same bound on topics, on both publish paths.
        _ = try await hub.publish(Update(topics: [longest], data: "ok"))
        await #expect(throws: HubError.invalidUpdate("topic is longer than 100 bytes")) {
            try await hub.publish(Update(topics: [longest + "t"], data: "no"))
        }
        #expect(hub.publishImmediately(Update(topics: [longest + "t"], data: "no")) == nil)
        #expect(HubConfiguration().maxTopicLength == 2048)
    }

    @Test func complexTemplatesAreRefusedWithAReason() throws {
        let hub = Self.hub()
        defer { hub.shutdown() }
        let error = #expect(throws: HubError.self) { try hub.selectors([String(repeating: "{+a}", count: 512)]) }
        #expect(error?.description.hasPrefix("invalid topic selector: template too complex") == true)
    }

    @Test func aSubscriptionsTemplatesAreBoundedInAll() async throws {
        let states = try #require(try TopicSelector("/a/{+x}/{y}").template).matchingStates
        let hub = Self.hub { $0.maxTemplateStates = 2 * states }
        defer { hub.shutdown() }
        // Exact topics and `*` cost nothing; templates add up.
        #expect(try hub.selectors(["/a/{+x}/{y}", "/b/{+x}/{y}", "exact", "*"]).count == 4)
        let error = #expect(throws: HubError.self) { try hub.selectors(["/a/{+x}/{y}", "/b/{+x}/{y}", "/c/{+x}/{y}"]) }
        #expect(error?.description.contains("too complex in all") == true)
        await #expect(throws: HubError.self) {
            try await hub.subscribe(SubscribeRequest(selectors: selectors("/a/{+x}/{y}", "/b/{+x}/{y}", "/c/{+x}/{y}")))
        }
    }

    /// The hub-wide bound: the distinct templates in use have `maxMatchingStates` states in all,
    /// so no number of subscribers can make one publish match more than that. Templates already
    /// in use and exact topics are always taken; the budget frees up when the last user of a
    /// template leaves; claim selectors count but are never refused.
    @Test func theHubsDistinctTemplatesAreBoundedInAll() async throws {
        let states = try TopicSelector("/a/{x}").matchingStates
        #expect(states > 0)
        #expect(TopicSelector.wildcard.matchingStates == 0)
        #expect(try TopicSelector("/exact").matchingStates == 0)
        let hub = Self.hub { $0.maxMatchingStates = 2 * states }
        defer { hub.shutdown() }
        let a = try await hub.subscribe(SubscribeRequest(selectors: try hub.selectors(["/a/{x}"])))
        let b = try await hub.subscribe(SubscribeRequest(selectors: try hub.selectors(["/b/{x}", "/a/{x}", "*", "/e"])))
        #expect(hub.statistics.matchingStates == 2 * states)
        let refused = HubError.overloaded(
            "too many distinct topic selectors in use on this hub (more than \(2 * states) matching states)"
        )
        await #expect(throws: refused) {
            try await hub.subscribe(SubscribeRequest(selectors: try hub.selectors(["/c/{x}"])))
        }
        // Refused as a whole: the template in use it also asked for was not retained.
        await #expect(throws: refused) {
            try await hub.subscribe(SubscribeRequest(selectors: try hub.selectors(["/a/{x}", "/c/{x}"])))
        }
        #expect(hub.selectorCache.count == 4)
        // Selectors in use and exact ones cost nothing more.
        let shared = try await hub.subscribe(SubscribeRequest(selectors: try hub.selectors(["/a/{x}", "/b/{x}", "/f", "*"])))
        // A token's claim is trusted: never refused, but it counts.
        let claimed = try await hub.subscribe(
            SubscribeRequest(selectors: try hub.selectors(["/g"]), privateSelectors: hub.claimSelectors(["/claim/{x}"]))
        )
        #expect(hub.statistics.matchingStates == 3 * states)
        // Delivery through the shared templates is unchanged.
        let (recorder, _) = record(shared)
        try await hub.publish(Update(topics: ["/b/1"], data: "b"))
        await recorder.waitForEvents(1)
        #expect(recorder.events.map(\.data) == ["b"])
        // The budget frees up with the last user of a template, and not before.
        b.cancel()
        try await waitUntil(timeout: .seconds(10)) { hub.statistics.subscribers == 3 }
        #expect(hub.statistics.matchingStates == 3 * states)
        shared.cancel()
        claimed.cancel()
        try await waitUntil(timeout: .seconds(10)) { hub.statistics.subscribers == 1 }
        #expect(hub.statistics.matchingStates == states)
        let c = try await hub.subscribe(SubscribeRequest(selectors: try hub.selectors(["/c/{x}"])))
        #expect(hub.statistics.matchingStates == 2 * states)
        a.cancel()
        c.cancel()
        try await waitUntil(timeout: .seconds(10)) { hub.statistics.subscribers == 0 }
        #expect(hub.statistics.matchingStates == 0)
        #expect(HubConfiguration().maxMatchingStates == 16_384)
        // No bound at all when asked.
        let unbounded = Self.hub { $0.maxMatchingStates = nil }
        defer { unbounded.shutdown() }
        _ = try await unbounded.subscribe(
            SubscribeRequest(selectors: try unbounded.selectors((0..<64).map { "/\($0)/{+a}{+b}{+c}" }))
        )
    }

    /// Concurrent subscriptions cannot overshoot the budget together (checked and recorded
    /// under one lock).
    @Test func concurrentSubscriptionsStayWithinTheHubsBudget() async throws {
        let states = try TopicSelector("/0/{x}").matchingStates
        let hub = Self.hub { $0.maxMatchingStates = 10 * states }
        defer { hub.shutdown() }
        let accepted = await withTaskGroup(of: Subscription?.self) { group in
            for index in 0..<40 {
                group.addTask { try? await hub.subscribe(SubscribeRequest(selectors: try hub.selectors(["/\(index)/{x}"]))) }
            }
            var accepted: [Subscription] = []
            for await subscription in group { if let subscription { accepted.append(subscription) } }
            return accepted
        }
        #expect(accepted.count == 10)
        #expect(hub.statistics.matchingStates == 10 * states)
        for subscription in accepted { subscription.cancel() }
    }

    @Test func compiledSelectorsAreSharedAndFreedWithTheirLastUser() async throws {
        let hub = Self.hub()
        defer { hub.shutdown() }
        let template = "https://example.com/books/{id}"
        var subscriptions: [Subscription] = []
        for _ in 0..<10 {
            let request = SubscribeRequest(selectors: try hub.selectors([template, "*", "exact"]))
            subscriptions.append(try await hub.subscribe(request))
        }
        // One compiled selector per distinct text, however many subscribers use it.
        #expect(hub.selectorCache.count == 3)
        // A new request gets the compiled automaton in use (the same storage), not a new one.
        let again = try #require(try hub.selectors([template])[0].template)
        let other = try #require(try hub.selectors([template])[0].template)
        let address = { (template: URITemplate) in template.program.edges.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) } }
        #expect(address(again) == address(other))
        #expect(address(again) != address(try URITemplate(template)))
        for subscription in subscriptions.dropLast() { subscription.cancel() }
        try await waitUntil(timeout: .seconds(10)) { hub.statistics.subscribers == 1 }
        #expect(hub.selectorCache.count == 3)
        subscriptions.last?.cancel()
        try await waitUntil(timeout: .seconds(10)) { hub.statistics.subscribers == 0 }
        #expect(hub.selectorCache.count == 0)
    }

    @Test func sharedTemplatesStillDeliverToEachSubscriberOnce() async throws {
        let hub = Self.hub()
        defer { hub.shutdown() }
        // Two subscribers share a template; one of them has it twice, and `*` as well.
        let (first, _) = record(try await hub.subscribe(SubscribeRequest(selectors: try hub.selectors(["/b/{id}"]))))
        let (second, _) = record(try await hub.subscribe(SubscribeRequest(selectors: try hub.selectors(["/b/{id}", "/b/{id}", "*"]))))
        try await hub.publish(Update(topics: ["/b/1", "/b/2"], data: "x"))
        try await hub.publish(Update(topics: ["/c"], data: "y"))
        await first.waitForEvents(1)
        await second.waitForEvents(2)
        #expect(first.events.map(\.data) == ["x"])
        #expect(second.events.map(\.data) == ["x", "y"])
    }

    @Test func privateUpdatesSkipTemplatesOfAnonymousSubscribers() async throws {
        let hub = Self.hub()
        defer { hub.shutdown() }
        let (anonymous, _) = record(try await hub.subscribe(SubscribeRequest(selectors: try hub.selectors(["/u/{id}"]))))
        let (authorized, _) = record(
            try await hub.subscribe(
                SubscribeRequest(selectors: try hub.selectors(["/u/{id}"]), privateSelectors: try hub.selectors(["/u/1"]))
            )
        )
        try await hub.publish(Update(topics: ["/u/1"], data: "private", isPrivate: true))
        try await hub.publish(Update(topics: ["/u/1"], data: "public"))
        await authorized.waitForEvents(2)
        await anonymous.waitForEvents(1)
        #expect(authorized.events.map(\.data) == ["private", "public"])
        #expect(anonymous.events.map(\.data) == ["public"])
    }

    @Test func presenceNeverEvictsRealUpdatesFromHistory() async throws {
        let hub = Self.hub {
            $0.historySize = 10
            $0.publishesSubscriptionEvents = true
        }
        let running = Task { try await hub.run() }
        defer {
            hub.shutdown()
            running.cancel()
        }
        for index in 1...5 { try await hub.publish(Update(topics: ["real"], data: "\(index)")) }
        // A watcher authorized for presence sees the churn go by.
        let watcher = try await recordPresence(of: hub)
        for _ in 0..<20 {
            let subscription = try await hub.subscribe(SubscribeRequest(selectors: try hub.selectors(["a", "b", "c", "d", "e"])))
            try await waitUntil(timeout: .seconds(10)) { watcher.events.contains { $0.data.contains(subscription.id) } }
            subscription.cancel()
        }
        try await waitUntil(timeout: .seconds(10)) { watcher.events.filter { $0.data.contains("\"active\":false") }.count >= 20 * 5 }
        #expect(hub.statistics.historyCount == 5)
        let (replay, _) = record(try await hub.subscribe(SubscribeRequest(selectors: selectors("*"), lastEventID: "earliest")))
        await replay.waitForEvents(5)
        #expect(replay.events.map(\.data) == ["1", "2", "3", "4", "5"])
    }

    @Test func presenceIsOffByDefaultAndScopedBySelectors() async throws {
        #expect(HubConfiguration().publishesSubscriptionEvents == false)
        let hub = Self.hub { $0.subscriptionEventSelectors = [try! TopicSelector("/rooms/{room}")] }
        let running = Task { try await hub.run() }
        defer {
            hub.shutdown()
            running.cancel()
        }
        let watcher = try await recordPresence(of: hub)
        // Not announced: no selector matches "other" (or the watcher's own selector).
        let quiet = try await hub.subscribe(SubscribeRequest(selectors: try hub.selectors(["other"])))
        let room = try await hub.subscribe(SubscribeRequest(selectors: try hub.selectors(["other", "/rooms/lobby"])))
        await watcher.waitForEvents(1)
        let first = try #require(watcher.events.first)
        #expect(first.data.contains(room.id))
        #expect(first.data.contains("\"topic\":\"/rooms/lobby\""))
        #expect(!watcher.events.contains { $0.data.contains(quiet.id) || $0.data.contains("\"topic\":\"other\"") })
    }

    /// A subscription that ends before its start was taken: its start is never announced nor
    /// recorded, but its end is announced (a client may have listed it), in the start's place.
    @Test func aBriefSubscriptionsEndIsAnnouncedButNeverRecorded() {
        var changes = PresenceChanges()
        let a = ActiveSubscription(id: "a", topics: ["t"], payload: nil)
        let b = ActiveSubscription(id: "b", topics: ["t"], payload: nil)
        changes.started(a)
        changes.started(b)
        changes.ended(a)
        let first = changes.take()
        #expect(first.changes.map(\.subscription.id) == ["a", "b"])
        #expect(first.changes.map(\.active) == [false, true])
        #expect(first.changes.map(\.inRegistry) == [false, true])
        changes.ended(b)
        for index in 0..<5000 {
            let churn = ActiveSubscription(id: "c\(index)", topics: ["t"], payload: nil)
            changes.started(churn)
            changes.ended(churn)
        }
        let second = changes.take()
        #expect(second.changes.map(\.subscription.id) == ["b"] + (0..<5000).map { "c\($0)" })
        #expect(second.changes.allSatisfy { !$0.active })
        #expect(second.changes.map(\.inRegistry) == [true] + Array(repeating: false, count: 5000))
        #expect(!second.rewritesRegistry)
        #expect(changes.take().changes.isEmpty)
    }

    /// A flood of changes that are never taken stays within the bound: the oldest go, the
    /// newest state of each subscription stays, and the next batch rewrites the registry.
    @Test func pendingPresenceChangesStayWithinTheirBound() {
        var changes = PresenceChanges(limit: 100)
        for index in 0..<10_000 {
            changes.started(ActiveSubscription(id: "s\(index)", topics: ["t"], payload: nil))
            #expect(changes.count <= 100)
        }
        // The newest 100 starts are what waits; the ends of 50 of them take their places.
        for index in 9_950..<10_000 {
            changes.ended(ActiveSubscription(id: "s\(index)", topics: ["t"], payload: nil))
            #expect(changes.count <= 100)
        }
        // Ends of subscriptions whose start was dropped (announced ones, as far as it knows):
        // each makes room by dropping the oldest waiting change.
        for index in 0..<30 {
            changes.ended(ActiveSubscription(id: "s\(index)", topics: ["t"], payload: nil))
            #expect(changes.count <= 100)
        }
        #expect(changes.dropped == 9_930)
        let batch = changes.take()
        #expect(batch.rewritesRegistry)
        #expect(batch.changes.map(\.subscription.id) == (9_930..<10_000).map { "s\($0)" } + (0..<30).map { "s\($0)" })
        #expect(batch.changes.map(\.active) == Array(repeating: true, count: 20) + Array(repeating: false, count: 80))
        #expect(!changes.take().rewritesRegistry)
    }
}
