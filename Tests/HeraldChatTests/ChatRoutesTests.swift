import HeraldChat
import HeraldClient
import HeraldHTTP
import HeraldHub
import HeraldTestSupport
import NIOCore
import NIOHTTP1
import ServerSentEvents
import Testing

import Foundation

/// The chat's routes on a real server: names, rooms, limits, the session cookie, CSRF.
@Suite struct ChatRoutesTests {
    static let subscriberKey = HeraldKey("chat-test-subscriber-key-0123456789abcdef")

    static func withChat(
        allPresence: Bool = true,
        _ body: (TestServer) async throws -> Void
    ) async throws {
        var hub = HubConfiguration()
        hub.publishesSubscriptionEvents = allPresence
        hub.subscriptionEventSelectors = [HeraldChatConfiguration.roomSelector]
        var http = HeraldHTTPConfiguration()
        http.subscriberKey = subscriberKey
        let chat = HeraldChatConfiguration(sessionSecret: "chat-test-session-secret-0123456789abcdef", subscriberKey: subscriberKey)
        try await TestServer.run(hub: hub, http: http, mount: { router, endpoint in router.addHeraldChat(endpoint.hub, configuration: chat) }, body)
    }

    struct Reply {
        let status: Int
        let headers: HTTPHeaders
        let body: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:] }
    }

    static func send(
        _ server: TestServer,
        _ method: HTTPMethod,
        _ path: String,
        json: String? = nil,
        headers: [(String, String)] = []
    ) async throws -> Reply {
        var httpHeaders = HTTPHeaders(headers)
        if json != nil, !headers.contains(where: { $0.0 == "Content-Type" }) {
            httpHeaders.add(name: "Content-Type", value: "application/json")
        }
        let response = try await HTTPStreamingClient(baseURL: server.baseURL).send(
            method: method,
            path: path,
            headers: httpHeaders,
            body: json.map { ByteBuffer(string: $0) }
        )
        return Reply(status: Int(response.status.code), headers: response.headers, body: try await response.text())
    }

    /// Signs in as `name`; returns the Cookie header value and the CSRF token.
    static func signIn(_ server: TestServer, _ name: String) async throws -> (cookie: String, csrf: String) {
        let reply = try await send(server, .POST, "/chat/session", json: #"{"name":"\#(name)"}"#)
        #expect(reply.status == 200)
        let cookies = reply.headers["Set-Cookie"].map { $0.split(separator: ";")[0] }
        return (cookies.joined(separator: "; "), reply.json["csrf"] as? String ?? "")
    }

    @Test func signInSetsSignedHttpOnlyCookiesAndSessionReadsThemBack() async throws {
        try await Self.withChat { server in
            let reply = try await Self.send(server, .POST, "/chat/session", json: #"{"name":"  Ann  "}"#)
            #expect(reply.status == 200)
            #expect(reply.json["name"] as? String == "Ann")
            let setCookies = reply.headers["Set-Cookie"]
            #expect(setCookies.count == 2)
            #expect(setCookies.allSatisfy { $0.contains("HttpOnly") && $0.contains("SameSite=Strict") })
            #expect(setCookies.contains { $0.hasPrefix("mercureAuthorization=") })

            let (cookie, csrf) = try await Self.signIn(server, "Ann")
            let session = try await Self.send(server, .GET, "/chat/session", headers: [("Cookie", cookie)])
            #expect(session.status == 200)
            #expect(session.json["name"] as? String == "Ann")
            #expect(session.json["csrf"] as? String == csrf)

            #expect(try await Self.send(server, .GET, "/chat/session").status == 401)
            // A tampered session cookie is refused.
            let tampered = cookie.replacingOccurrences(of: "herald_chat=", with: "herald_chat=x")
            #expect(try await Self.send(server, .GET, "/chat/session", headers: [("Cookie", tampered)]).status == 401)
        }
    }

    /// The hub token of a signed-in visitor (its `mercureAuthorization` cookie).
    static func hubToken(_ cookie: String) throws -> String {
        let pair = try #require(cookie.split(separator: ";").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("mercureAuthorization=") })
        return String(pair.trimmingCharacters(in: .whitespaces).dropFirst("mercureAuthorization=".count))
    }

    @Test(arguments: [true, false])
    func visitorSeesThePeopleInRoomsAndNothingElse(allPresence: Bool) async throws {
        try await Self.withChat(allPresence: allPresence) { server in
            let (eveCookie, _) = try await Self.signIn(server, "eve")
            let eve = try Self.hubToken(eveCookie)
            // Eve follows every presence update her token lets her see.
            let (eveEvents, closeEve) = try await server.client().subscribe(
                topics: [SubscriptionResource.basePath + "/{topic}/{subscriber}", "*"],
                token: eve
            )
            defer { closeEve() }
            // Another application's subscriber on the same hub, with its own token and payload.
            let aliceToken = try await Self.subscriberKey.sign(
                MercureClaims(mercure: .init(subscribe: ["secret"], payload: .object(["email": .string("alice@corp.example")])))
            )
            let (alice, closeAlice) = try await server.client().subscribe(topics: ["secret"], token: aliceToken)
            defer { closeAlice() }
            // Then Bob joins a room.
            let (bobCookie, _) = try await Self.signIn(server, "bob")
            let (bob, closeBob) = try await server.client().subscribe(topics: ["/chat/rooms/lobby"], token: try Self.hubToken(bobCookie))
            defer { closeBob() }
            defer { withExtendedLifetime((alice, bob)) {} }

            // Presence is announced in order: Bob's arrives after Alice's would have.
            let event = try #require(try await firstEvent(eveEvents))
            #expect(event.data.contains("%2Fchat%2Frooms%2Flobby"), "\(event.data)")
            #expect(event.data.contains("\"name\":\"bob\""))
            #expect(!event.data.contains("secret") && !event.data.contains("alice"))

            // The subscriptions API lists Bob in the lobby, never Alice's topic or payload.
            let listing = try await Self.send(
                server,
                .GET,
                "/.well-known/mercure/subscriptions",
                headers: [("Cookie", eveCookie)]
            )
            #expect(listing.status == 200)
            #expect(listing.body.contains("/chat/rooms/lobby"))
            #expect(!listing.body.contains("secret"), "\(listing.body)")
            #expect(!listing.body.contains("alice@corp.example"))
            let one = try await Self.send(
                server,
                .GET,
                "/.well-known/mercure/subscriptions/secret",
                headers: [("Cookie", eveCookie)]
            )
            #expect(!one.body.contains("alice@corp.example"))
        }
    }

    @Test(arguments: [
        ("", "empty"), ("   ", "empty"), (String(repeating: "n", count: 33), "too long"), ("bell\u{7}", "control"),
    ])
    func badNamesAreRefused(_ name: String, _ reason: String) async throws {
        try await Self.withChat { server in
            let encoded = String(decoding: try JSONEncoder().encode(["name": name]), as: UTF8.self)
            let reply = try await Self.send(server, .POST, "/chat/session", json: encoded)
            #expect(reply.status == 400)
            #expect((reply.json["error"] as? String)?.contains(reason) == true, "\(reply.body)")
        }
    }

    @Test func roomNamesAreValidated() async throws {
        try await Self.withChat { server in
            let good = try await Self.send(server, .GET, "/chat/rooms/dev_team-2")
            #expect(good.status == 200)
            #expect(good.json["topic"] as? String == "/chat/rooms/dev_team-2")
            #expect(good.json["presenceTopic"] as? String == "/.well-known/mercure/subscriptions/%2Fchat%2Frooms%2Fdev_team-2/{subscriber}")
            for bad in ["a%20b", String(repeating: "r", count: 65), "caf%C3%A9", "a.b"] {
                let reply = try await Self.send(server, .GET, "/chat/rooms/\(bad)")
                #expect(reply.status == 400, "room \(bad)")
            }
            #expect(try await Self.send(server, .GET, "/chat/rooms/" + String(repeating: "r", count: 64)).status == 200)
        }
    }

    @Test func postedMessagesAreBroadcastWithTheSessionName() async throws {
        try await Self.withChat { server in
            let (cookie, csrf) = try await Self.signIn(server, "Ann")
            let (events, close) = try await server.client().subscribe(topics: ["/chat/rooms/general"])
            defer { close() }
            let reply = try await Self.send(
                server,
                .POST,
                "/chat/rooms/general/messages",
                json: #"{"text":"<img src=x onerror=alert(1)>","name":"Mallory"}"#,
                headers: [("Cookie", cookie), ("X-CSRF-Token", csrf)]
            )
            #expect(reply.status == 201)
            let event = try #require(try await firstEvent(events))
            let message = try #require(try JSONSerialization.jsonObject(with: Data(event.data.utf8)) as? [String: Any])
            #expect(message["name"] as? String == "Ann")
            #expect(message["text"] as? String == "<img src=x onerror=alert(1)>")
            #expect(message["room"] as? String == "general")
            #expect(message["type"] as? String == "ChatMessage")
            #expect(event.id == message["id"] as? String)
            #expect((message["time"] as? String)?.hasSuffix("Z") == true)
        }
    }

    @Test func messagePostingIsGuarded() async throws {
        try await Self.withChat { server in
            let (cookie, csrf) = try await Self.signIn(server, "Ann")
            let path = "/chat/rooms/general/messages"
            let ok = [("Cookie", cookie), ("X-CSRF-Token", csrf)]
            let cases: [(String, [(String, String)], Int, String)] = [
                (#"{"text":"hi"}"#, [], 401, "no session"),
                (#"{"text":"hi"}"#, [("Cookie", cookie)], 403, "CSRF"),
                (#"{"text":"hi"}"#, [("Cookie", cookie), ("X-CSRF-Token", "forged")], 403, "CSRF"),
                (#"{"text":"hi"}"#, ok + [("Origin", "https://evil.example")], 403, "cross-origin"),
                (#"{"text":"   "}"#, ok, 400, "empty"),
                (#"{"text":"\#(String(repeating: "x", count: 1001))"}"#, ok, 400, "too long"),
                (#"{"text":"#, ok, 400, "malformed"),
                ("text=hi", ok + [("Content-Type", "application/x-www-form-urlencoded")], 415, "application/json"),
            ]
            for (body, headers, status, reason) in cases {
                let reply = try await Self.send(server, .POST, path, json: body, headers: headers)
                #expect(reply.status == status, "\(reason)")
                #expect((reply.json["error"] as? String)?.contains(reason) == true, "\(reply.body)")
            }
            let badRoom = try await Self.send(server, .POST, "/chat/rooms/bad.room/messages", json: #"{"text":"hi"}"#, headers: ok)
            #expect(badRoom.status == 400)
            let exactLimit = try await Self.send(
                server,
                .POST,
                path,
                json: #"{"text":"\#(String(repeating: "x", count: 1000))"}"#,
                headers: ok
            )
            #expect(exactLimit.status == 201)
            #expect(server.hub.statistics.dispatched >= 1)
        }
    }

    @Test func pageIsServedWithMercureDiscoveryLink() async throws {
        try await Self.withChat { server in
            let page = try await Self.send(server, .GET, "/")
            #expect(page.status == 200)
            #expect(page.headers["Content-Type"].first?.hasPrefix("text/html") == true)
            #expect(page.headers["Link"].first == "</.well-known/mercure>; rel=\"mercure\"")
            #expect(page.body.contains("/chat/app.js"))
            #expect(try await Self.send(server, .GET, "/chat/app.js").status == 200)
            #expect(try await Self.send(server, .GET, "/chat/style.css").status == 200)
        }
    }
}
