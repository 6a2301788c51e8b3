import HeraldTestSupport
import HeraldClient
import HeraldHTTP
import HeraldHub
import NIOCore
import ServerSentEvents
import Testing

import Foundation

@Suite struct SubscriptionsAPITests {
    static let subscriberSecret = "subscriber-secret-subscriber-secret-01"

    static func configuration() -> (HubConfiguration, HeraldHTTPConfiguration) {
        var hub = HubConfiguration()
        hub.publishesSubscriptionEvents = true
        var http = HeraldHTTPConfiguration()
        http.subscriberKey = HeraldKey(subscriberSecret)
        return (hub, http)
    }

    static func token(_ subscribe: [String], payload: JSONValue? = nil) async throws -> String {
        try await HeraldKey(subscriberSecret).sign(MercureClaims(mercure: .init(subscribe: subscribe, payload: payload)))
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func listsSubscriptionsVisibleToTheClaim() async throws {
        let (hubConfiguration, http) = Self.configuration()
        try await TestServer.run(hub: hubConfiguration, http: http) { server in
            let alice = try await Self.token(["/rooms/{room}"], payload: .object(["name": .string("alice")]))
            // Keep the streams referenced: dropping one closes its connection.
            let (streamA, closeA) = try await server.client().subscribe(topics: ["/rooms/a"], token: alice)
            defer { closeA() }
            let (streamB, closeB) = try await server.client().subscribe(topics: ["/other"])
            defer { closeB() }
            defer { withExtendedLifetime((streamA, streamB)) {} }
            try await waitUntil { server.hub.statistics.subscribers == 2 }

            let (missing, _) = try await get(server, "/.well-known/mercure/subscriptions")
            #expect(missing == 401)

            let viewer = try await Self.token(["/.well-known/mercure/subscriptions{/topic}{/subscriber}"])
            let auth = [("Authorization", "Bearer \(viewer)")]
            let (status, body) = try await get(server, "/.well-known/mercure/subscriptions", headers: auth)
            #expect(status == 200)
            let all = try Self.json(body)
            #expect(all["type"] as? String == "Subscriptions")
            #expect(all["lastEventID"] as? String != nil)
            let listed = try #require(all["subscriptions"] as? [[String: Any]])
            #expect(Set(listed.compactMap { $0["topic"] as? String }) == ["/rooms/a", "/other"])

            let (_, roomBody) = try await get(
                server,
                "/.well-known/mercure/subscriptions/" + SubscriptionResource.percentEncode("/rooms/a"),
                headers: auth
            )
            let room = try #require(try Self.json(roomBody)["subscriptions"] as? [[String: Any]])
            #expect(room.count == 1)
            #expect((room.first?["payload"] as? [String: Any])?["name"] as? String == "alice")
            #expect(room.first?["active"] as? Bool == true)

            // A claim covering only one topic's resources sees only those.
            let narrow = try await Self.token(["/.well-known/mercure/subscriptions/%2Fother{/subscriber}"])
            let (_, narrowBody) = try await get(
                server,
                "/.well-known/mercure/subscriptions",
                headers: [("Authorization", "Bearer \(narrow)")]
            )
            let narrowList = try #require(try Self.json(narrowBody)["subscriptions"] as? [[String: Any]])
            #expect(narrowList.compactMap { $0["topic"] as? String } == ["/other"])
            // Filtering leaves the collection's lastEventID alone (the hub's, not the list's).
            #expect(try Self.json(narrowBody)["lastEventID"] as? String == all["lastEventID"] as? String)

            // One resource: found, forbidden, or missing.
            let subscriber = try #require(room.first?["subscriber"] as? String)
            let one = "/.well-known/mercure/subscriptions/" + SubscriptionResource.percentEncode("/rooms/a") + "/"
                + SubscriptionResource.percentEncode(subscriber)
            #expect(try await get(server, one, headers: auth).0 == 200)
            #expect(try await get(server, one, headers: [("Authorization", "Bearer \(narrow)")]).0 == 403)
            #expect(try await get(server, one + "x", headers: auth).0 == 404)
        }
    }

    @Test func presenceUpdatesFollowConnectAndDisconnectPromptly() async throws {
        let (hubConfiguration, http) = Self.configuration()
        try await TestServer.run(hub: hubConfiguration, http: http) { server in
            let watcherToken = try await Self.token(["/.well-known/mercure/subscriptions{/topic}{/subscriber}"])
            let presence = SubscriptionResource.basePath + "/" + SubscriptionResource.percentEncode("/rooms/a") + "/{subscriber}"
            let (updates, closeWatcher) = try await server.client().subscribe(topics: [presence], token: watcherToken)
            defer { closeWatcher() }
            // Anonymous subscribers never see presence (it is private).
            let (anonymousUpdates, closeAnonymous) = try await server.client().subscribe(topics: [presence])
            defer { closeAnonymous() }
            try await waitUntil { server.hub.statistics.subscribers == 2 }

            let bob = try await Self.token([], payload: .object(["name": .string("bob")]))
            let (bobStream, closeBob) = try await server.client().subscribe(topics: ["/rooms/a"], token: bob)
            let joined = try #require(try await firstEvent(updates))
            let joinedJSON = try Self.json(joined.data)
            #expect(joinedJSON["active"] as? Bool == true)
            #expect((joinedJSON["payload"] as? [String: Any])?["name"] as? String == "bob")

            let started = ContinuousClock.now
            closeBob()  // the client goes away without the server writing anything
            let left = try #require(try await firstEvent(updates))
            #expect(try Self.json(left.data)["active"] as? Bool == false)
            #expect(ContinuousClock.now - started < .seconds(3), "left promptly, not at the next heartbeat")
            #expect(try await events(anonymousUpdates, count: 1, timeout: .milliseconds(300)).isEmpty)
            withExtendedLifetime(bobStream) {}
        }
    }
}
