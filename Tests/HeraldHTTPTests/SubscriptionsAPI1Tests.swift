import Foundation
import HeraldClient
import HeraldHTTP
import HeraldHub
import HeraldTestSupport
import NIOCore
import NIOHTTP1
import ServerSentEvents
import Testing

/// The Mercure 1.0 subscriptions API and subscription events (the specification's "Active
/// Subscriptions"): `/.well-known/mercure/subscriptions[/{match_type}/{match}[/{subscriber}]]`,
/// authorized by an access token whose `subscribe` grant covers the request's path, JSON-LD
/// documents with `match_type`, `match` and `last_event_id`; 1.0 subscriptions announce
/// themselves at their 1.0 topic, 0.x ones keep the 0.x shape.
@Suite struct SubscriptionsAPI1Tests {
    static let subscriberSecret = "subscriber-secret-subscriber-secret-01"
    static let hubURL = "https://hub.example/.well-known/mercure"
    static let base = "/.well-known/mercure/subscriptions"

    static func configuration() -> (HubConfiguration, HeraldHTTPConfiguration) {
        var hub = HubConfiguration()
        hub.publishesSubscriptionEvents = true
        var http = HeraldHTTPConfiguration()
        http.subscriberKey = HeraldKey(subscriberSecret)
        http.resourceIdentifier = hubURL
        return (hub, http)
    }

    /// A 1.0 access token granting `subscribe` on `matchers` (with `payload`).
    static func token(
        _ matchers: [MercureAccessToken.Matcher],
        payload: JSONValue? = nil,
        audience: String = hubURL
    ) async throws -> String {
        var token = MercureAccessToken(issuer: nil, audience: [audience], expiresAt: Date().addingTimeInterval(600))
        token.subscribe = matchers
        token.payload = payload
        return try await HeraldKey(subscriberSecret).sign(token)
    }

    /// Every subscription resource, whatever its type and subscriber.
    static let everything = MercureAccessToken.Matcher(base + "/:match_type/:match/:subscriber", type: .urlpattern)

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    /// Opens a 1.0 stream (`query` as given) with `token`.
    static func subscribe(
        _ server: TestServer,
        _ query: String,
        token: String? = nil
    ) async throws -> (AsyncThrowingStream<ServerSentEventParser.Element, any Error>, @Sendable () -> Void) {
        var headers = HTTPHeaders()
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await HTTPStreamingClient(baseURL: server.baseURL).send(
            method: .GET,
            path: "/.well-known/mercure?" + query,
            headers: headers
        )
        #expect(response.status == .ok)
        return (response.events, response.close)
    }

    /// The data of the first event whose data contains `text`, or nil after 5 s.
    static func firstData(
        _ elements: AsyncThrowingStream<ServerSentEventParser.Element, any Error>,
        containing text: String
    ) async throws -> String? {
        try await withThrowingTaskGroup(of: String?.self) { group in
            group.addTask {
                for try await element in elements {
                    if case .event(let event) = element, event.data.contains(text) { return event.data }
                }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: .seconds(5))
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    static func getWithHeaders(_ server: TestServer, _ path: String, token: String?) async throws -> (Int, HTTPHeaders, String) {
        var headers = HTTPHeaders()
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await HTTPStreamingClient(baseURL: server.baseURL).send(method: .GET, path: path, headers: headers)
        return (Int(response.status.code), response.headers, try await response.text())
    }

    @Test func listsOneAndAllOneMatcherAndOneSubscription() async throws {
        let (hubConfiguration, http) = Self.configuration()
        try await TestServer.run(hub: hubConfiguration, http: http) { server in
            let alice = try await Self.token(
                [.init("https://ex.com/books/:id", type: .urlpattern)],
                payload: .object(["name": .string("alice")])
            )
            let (streamA, closeA) = try await Self.subscribe(server, "match_urlpattern=https%3A%2F%2Fex.com%2Fbooks%2F%3Aid", token: alice)
            defer { closeA() }
            let (streamB, closeB) = try await Self.subscribe(server, "match=t1")
            defer { closeB() }
            // A 0.x subscription is not in the 1.0 API.
            let (streamC, closeC) = try await server.client().subscribe(topics: ["zero"])
            defer { closeC() }
            defer { withExtendedLifetime((streamA, streamB, streamC)) {} }
            try await waitUntil { server.hub.statistics.subscribers == 3 }

            let viewer = try await Self.token([.init(Self.base + "*", type: .urlpattern)])
            let (status, headers, body) = try await Self.getWithHeaders(server, Self.base, token: viewer)
            #expect(status == 200)
            #expect(headers.first(name: "Content-Type") == "application/ld+json")
            let all = try Self.json(body)
            #expect(all["@context"] as? String == "https://mercure.rocks/")
            #expect(all["id"] as? String == Self.base)
            #expect(all["type"] as? String == "Subscriptions")
            #expect(all["last_event_id"] as? String == "earliest")
            let listed = try #require(all["subscriptions"] as? [[String: Any]])
            #expect(Set(listed.compactMap { $0["match"] as? String }) == ["https://ex.com/books/:id", "t1"])
            #expect(Set(listed.compactMap { $0["match_type"] as? String }) == ["urlpattern", "exact"])
            #expect(listed.allSatisfy { $0["topic"] == nil && $0["type"] as? String == "Subscription" })

            // One matcher's collection, its payload from the token's subscribe detail.
            let matcherPath = Self.base + "/urlpattern/" + SubscriptionResource.percentEncode("https://ex.com/books/:id")
            let (_, _, matcherBody) = try await Self.getWithHeaders(server, matcherPath, token: viewer)
            let matcher = try Self.json(matcherBody)
            #expect(matcher["id"] as? String == matcherPath)
            let mine = try #require(matcher["subscriptions"] as? [[String: Any]])
            #expect(mine.count == 1)
            #expect((mine.first?["payload"] as? [String: Any])?["name"] as? String == "alice")
            #expect(mine.first?["active"] as? Bool == true)
            let subscriber = try #require(mine.first?["subscriber"] as? String)
            let onePath = matcherPath + "/" + SubscriptionResource.percentEncode(subscriber)
            #expect(mine.first?["id"] as? String == onePath)

            // One subscription: found (with last_event_id at its root), or 404.
            let (oneStatus, _, oneBody) = try await Self.getWithHeaders(server, onePath, token: viewer)
            #expect(oneStatus == 200)
            let one = try Self.json(oneBody)
            #expect(one["match"] as? String == "https://ex.com/books/:id")
            #expect(one["last_event_id"] as? String == "earliest")
            #expect(try await Self.getWithHeaders(server, onePath + "x", token: viewer).0 == 404)
            // The exact type with the same match is another matcher.
            let exactPath = Self.base + "/exact/" + SubscriptionResource.percentEncode("https://ex.com/books/:id")
            let exact = try Self.json(try await Self.getWithHeaders(server, exactPath, token: viewer).2)
            #expect((exact["subscriptions"] as? [Any])?.isEmpty == true)
        }
    }

    @Test func authorizesTheRequestPathAndRefusesBadShapes() async throws {
        let (hubConfiguration, http) = Self.configuration()
        try await TestServer.run(hub: hubConfiguration, http: http) { server in
            let exactCollection = try await Self.token([.init(Self.base)])
            let oneMatcher = try await Self.token([.init(Self.base + "/exact/t1/:subscriber", type: .urlpattern), .init(Self.base + "/exact/t1")])
            let wildcard = try await Self.token([.init("*")])
            let relative = try await Self.token([Self.everything])
            let otherHub = try await Self.token([.init("*")], audience: "https://elsewhere.example/.well-known/mercure")

            // Exact grants compare the path as sent, byte for byte.
            #expect(try await Self.getWithHeaders(server, Self.base, token: exactCollection).0 == 200)
            #expect(try await Self.getWithHeaders(server, Self.base + "/exact/t1", token: exactCollection).0 == 403)
            // One matcher's resources: its collection and its subscriptions, nothing else.
            #expect(try await Self.getWithHeaders(server, Self.base + "/exact/t1", token: oneMatcher).0 == 200)
            #expect(try await Self.getWithHeaders(server, Self.base + "/exact/t2", token: oneMatcher).0 == 403)
            #expect(try await Self.getWithHeaders(server, Self.base + "/exact/t1/urn%3Ax", token: oneMatcher).0 == 404)
            #expect(try await Self.getWithHeaders(server, Self.base, token: oneMatcher).0 == 403)
            // `*` covers everything; a relative pattern resolves against the hub's URL.
            #expect(try await Self.getWithHeaders(server, Self.base, token: wildcard).0 == 200)
            #expect(try await Self.getWithHeaders(server, Self.base + "/urlpattern/a/b", token: relative).0 == 404)
            #expect(try await Self.getWithHeaders(server, Self.base + "/exact/t1", token: relative).0 == 403)

            let (forbidden, forbiddenHeaders, _) = try await Self.getWithHeaders(server, Self.base + "/exact/t2", token: oneMatcher)
            #expect(forbidden == 403)
            #expect(forbiddenHeaders.first(name: "WWW-Authenticate")?.contains("insufficient_scope") == true)
            let (invalid, invalidHeaders, _) = try await Self.getWithHeaders(server, Self.base, token: otherHub)
            #expect(invalid == 401)
            #expect(invalidHeaders.first(name: "WWW-Authenticate")?.contains("invalid_token") == true)
            #expect(try await Self.getWithHeaders(server, Self.base, token: nil).0 == 401)

            // Shapes: unknown type 400, a lone type or too deep 404, a token in the query 400.
            #expect(try await Self.getWithHeaders(server, Self.base + "/regexp/a", token: wildcard).0 == 400)
            #expect(try await Self.getWithHeaders(server, Self.base + "/Exact/a", token: wildcard).0 == 400)
            #expect(try await Self.getWithHeaders(server, Self.base + "/exact", token: wildcard).0 == 404)
            #expect(try await Self.getWithHeaders(server, Self.base + "/exact/a/b/c", token: wildcard).0 == 404)
            #expect(try await Self.getWithHeaders(server, Self.base + "/exact/%zz", token: wildcard).0 == 400)
            #expect(try await get(server, Self.base + "?authorization=\(wildcard)").0 == 400)
        }
    }

    /// The collections list, item by item, only what the token may see by the rule of the
    /// subscription events: a grant that covers a collection's URL sees none of the
    /// subscriptions it does not cover, and the collection's `last_event_id` stays the hub's.
    @Test func aCollectionListsOnlyTheSubscriptionsTheTokenCovers() async throws {
        let (hubConfiguration, http) = Self.configuration()
        try await TestServer.run(hub: hubConfiguration, http: http) { server in
            // Covers the collection's URL and t2's per-matcher collection, but of the
            // subscriptions themselves only t1's.
            let t1Only = try await Self.token([
                .init(Self.base), .init(Self.base + "/exact/t2"),
                .init(Self.base + "/exact/t1/:subscriber", type: .urlpattern),
            ])
            let wildcard = try await Self.token([.init("*")])
            let everyEvent = "match_urlpattern=" + SubscriptionResource.percentEncode(Self.base + "/:match_type/:match/:subscriber")
            let (narrowEvents, closeNarrow) = try await Self.subscribe(server, everyEvent, token: t1Only)
            defer { closeNarrow() }
            let (allEvents, closeAll) = try await Self.subscribe(server, everyEvent, token: wildcard)
            defer { closeAll() }
            try await waitUntil { server.hub.statistics.subscribers == 2 }

            // t2 joins first; once the wide watcher has its event, t1 joins. The narrow watcher's
            // first event is t1's: it was never told about t2.
            let (two, closeTwo) = try await Self.subscribe(server, "match=t2")
            defer { closeTwo() }
            #expect(try await Self.firstData(allEvents, containing: "\"match\":\"t2\"") != nil)
            let (one, closeOne) = try await Self.subscribe(server, "match=t1")
            defer { closeOne() }
            defer { withExtendedLifetime((two, one)) {} }
            let firstNarrow = try #require(try await events(narrowEvents, count: 1).first)
            #expect(try Self.json(firstNarrow.data)["match"] as? String == "t1")

            let published = try await server.hub.publish(Update(topics: ["elsewhere"], data: "x"))
            let (status, _, body) = try await Self.getWithHeaders(server, Self.base, token: t1Only)
            #expect(status == 200)
            let narrow = try Self.json(body)
            let listed = try #require(narrow["subscriptions"] as? [[String: Any]])
            #expect(listed.compactMap { $0["match"] as? String } == ["t1"])
            #expect(narrow["last_event_id"] as? String == published)
            let wide = try Self.json(try await Self.getWithHeaders(server, Self.base, token: wildcard).2)
            let all = try #require(wide["subscriptions"] as? [[String: Any]])
            #expect(Set(all.compactMap { $0["match"] as? String }).isSuperset(of: ["t1", "t2"]))
            #expect(wide["last_event_id"] as? String == published)

            // t2's collection URL is granted, its subscription is not: an empty list.
            let (t2Status, _, t2Body) = try await Self.getWithHeaders(server, Self.base + "/exact/t2", token: t1Only)
            #expect(t2Status == 200)
            let t2 = try Self.json(t2Body)
            #expect((t2["subscriptions"] as? [Any])?.isEmpty == true)
            #expect(t2["last_event_id"] as? String == published)

            // One subscription: the resource's own IRI decides, not only the path as sent. A
            // path spelled without percent-encoding, granted byte for byte, is still refused,
            // as the resource's events (at its IRI) would be.
            let subscriber = try #require(listed.first?["subscriber"] as? String)
            let canonical = Self.base + "/exact/t1/" + SubscriptionResource.percentEncode(subscriber)
            #expect(try await Self.getWithHeaders(server, canonical, token: t1Only).0 == 200)
            let unencoded = Self.base + "/exact/t1/" + subscriber
            let pathOnly = try await Self.token([.init(unencoded)])
            let (refused, refusedHeaders, _) = try await Self.getWithHeaders(server, unencoded, token: pathOnly)
            #expect(refused == 403)
            #expect(refusedHeaders.first(name: "WWW-Authenticate")?.contains("insufficient_scope") == true)
            #expect(try await Self.getWithHeaders(server, unencoded, token: wildcard).0 == 200)
        }
    }

    @Test func subscriptionEventsOfA10SubscriptionHaveThe10Shape() async throws {
        let (hubConfiguration, http) = Self.configuration()
        try await TestServer.run(hub: hubConfiguration, http: http) { server in
            // A 1.0 watcher with a relative pattern (resolved against the hub's URL), and an
            // anonymous one (subscription events are private).
            let watcher = try await Self.token([Self.everything])
            let pattern = SubscriptionResource.percentEncode(Self.base + "/:match_type/:match/:subscriber")
            let (updates, closeWatcher) = try await Self.subscribe(server, "match_urlpattern=" + pattern, token: watcher)
            defer { closeWatcher() }
            let (anonymous, closeAnonymous) = try await Self.subscribe(server, "match_urlpattern=" + pattern)
            defer { closeAnonymous() }
            try await waitUntil { server.hub.statistics.subscribers == 2 }

            let bob = try await Self.token([.init("*")], payload: .object(["name": .string("bob")]))
            let (bobStream, closeBob) = try await Self.subscribe(server, "match=room", token: bob)
            // The watchers' own subscriptions are announced too: skip to bob's.
            let joined = try Self.json(try #require(try await Self.firstData(updates, containing: "\"match\":\"room\"")))
            #expect(joined["match_type"] as? String == "exact")
            #expect(joined["active"] as? Bool == true)
            #expect((joined["payload"] as? [String: Any])?["name"] as? String == "bob")
            let subscriber = try #require(joined["subscriber"] as? String)
            #expect(joined["id"] as? String == Self.base + "/exact/room/" + SubscriptionResource.percentEncode(subscriber))
            #expect(joined["topic"] == nil)

            closeBob()
            let left = try Self.json(try #require(try await Self.firstData(updates, containing: "\"match\":\"room\"")))
            #expect(left["match"] as? String == "room")
            #expect(left["active"] as? Bool == false)
            #expect(try await events(anonymous, count: 1, timeout: .milliseconds(300)).isEmpty)
            withExtendedLifetime(bobStream) {}
        }
    }

    @Test func a0xSubscriptionKeepsThe0xEvent() async throws {
        let (hubConfiguration, http) = Self.configuration()
        try await TestServer.run(hub: hubConfiguration, http: http) { server in
            let watcher = try await HeraldKey(Self.subscriberSecret).sign(
                MercureClaims(mercure: .init(subscribe: [Self.base + "/" + SubscriptionResource.percentEncode("zero") + "{/subscriber}"]))
            )
            let (updates, closeWatcher) = try await server.client().subscribe(
                topics: [Self.base + "/" + SubscriptionResource.percentEncode("zero") + "{/subscriber}"],
                token: watcher
            )
            defer { closeWatcher() }
            try await waitUntil { server.hub.statistics.subscribers == 1 }
            let (zero, closeZero) = try await server.client().subscribe(topics: ["zero"])
            defer { closeZero() }
            let event = try #require(try await firstEvent(updates))
            let json = try Self.json(event.data)
            #expect(json["topic"] as? String == "zero")
            #expect(json["match_type"] == nil)
            withExtendedLifetime(zero) {}
        }
    }
}
