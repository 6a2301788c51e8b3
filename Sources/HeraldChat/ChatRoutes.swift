import HeraldHTTP
import HeraldHub
import HTTPTypes
import Hummingbird
import JWTKit
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The demo chat, built only on Herald's public API: rooms are topics, messages are updates,
/// history is the hub's replay, and "who is online" is Mercure's subscriptions API + presence.
public final class ChatRoutes: Sendable {
    let hub: Hub
    let configuration: HeraldChatConfiguration
    /// Signs and verifies the chat's session cookies (built on first use).
    let sessionKeys: HeraldKeyRing
    /// Signs the visitors' hub tokens with the hub's subscriber key (built on first use).
    let hubKeys: HeraldKeyRing
    let assets = ChatAssets()
    let logger: Logger

    init(hub: Hub, configuration: HeraldChatConfiguration, logger: Logger) {
        self.hub = hub
        self.configuration = configuration
        self.logger = logger
        self.sessionKeys = HeraldKeyRing(HeraldKey(configuration.sessionSecret))
        self.hubKeys = HeraldKeyRing(configuration.subscriberKey)
    }

    // MARK: session

    func currentSession(_ request: Request) async -> ChatSession? {
        guard let token = request.cookies[ChatSession.cookieName]?.value, !token.isEmpty,
            let keys = try? await sessionKeys.keys()
        else { return nil }
        return try? await keys.verify(token, as: ChatSession.self)
    }

    func getSession(_ request: Request) async -> Response {
        guard let session = await currentSession(request) else {
            return ChatRefusal(status: .unauthorized, reason: "no session").response
        }
        return jsonResponse(.ok, SessionInfo(name: session.name, csrf: session.csrf))
    }

    func createSession(_ request: Request) async -> Response {
        do {
            struct Body: Decodable { let name: String }
            let body: Body = try await decodeJSON(request, as: Body.self)
            let name: String
            switch DisplayName.validate(body.name, maxLength: configuration.maxNameLength) {
            case .success(let valid): name = valid
            case .failure(let refusal): throw refusal
            }
            let session = ChatSession.new(name: name, lifetime: configuration.sessionLifetime)
            let sessionToken = try await sessionKeys.keys().sign(session)
            // The visitor's hub token grants the rooms and the presence of the people in them,
            // nothing more: other subscriptions (their topics, their payloads) stay invisible
            // in the subscriptions API and in presence updates.
            let hubClaims = MercureClaims(
                exp: session.exp,
                sub: session.sub,
                mercure: .init(
                    subscribe: HeraldChatConfiguration.visitorClaim,
                    payload: .object(["name": .string(name)])
                )
            )
            let hubToken = try await hubKeys.keys().sign(hubClaims)
            let maxAge = Int(configuration.sessionLifetime)
            var headers = HTTPFields()
            headers.append(
                HTTPField(
                    name: .setCookie,
                    value: "\(ChatSession.cookieName)=\(sessionToken); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict"
                )
            )
            headers.append(
                HTTPField(
                    name: .setCookie,
                    value: "mercureAuthorization=\(hubToken); Path=\(configuration.hubPath); Max-Age=\(maxAge); HttpOnly; SameSite=Strict"
                )
            )
            return jsonResponse(.ok, SessionInfo(name: session.name, csrf: session.csrf), headers: headers)
        } catch let refusal as ChatRefusal {
            return refusal.response
        } catch {
            logger.error("chat session not created", metadata: ["error": "\(error)"])
            return ChatRefusal(status: .internalServerError, reason: "could not create the session").response
        }
    }

    func deleteSession(_ request: Request) -> Response {
        var headers = HTTPFields()
        headers.append(HTTPField(name: .setCookie, value: "\(ChatSession.cookieName)=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"))
        headers.append(
            HTTPField(name: .setCookie, value: "mercureAuthorization=; Path=\(configuration.hubPath); Max-Age=0; HttpOnly; SameSite=Strict")
        )
        return Response(status: .noContent, headers: headers)
    }

    // MARK: rooms and messages

    func roomInfo(_ room: String) -> Response {
        guard HeraldChatConfiguration.isValidRoom(room) else {
            return ChatRefusal.badRequest("room names are 1-64 letters, digits, - or _").response
        }
        let topic = HeraldChatConfiguration.topic(ofRoom: room)
        let encoded = SubscriptionResource.percentEncode(topic)
        let base = configuration.hubPath + "/subscriptions/" + encoded
        return jsonResponse(
            .ok,
            RoomInfo(room: room, topic: topic, presenceTopic: base + "/{subscriber}", subscriptionsURL: base)
        )
    }

    func postMessage(_ request: Request, room: String) async -> Response {
        do {
            guard HeraldChatConfiguration.isValidRoom(room) else {
                throw ChatRefusal.badRequest("room names are 1-64 letters, digits, - or _")
            }
            guard request.isSameOriginOrNoOrigin else {
                throw ChatRefusal(status: .forbidden, reason: "cross-origin request refused")
            }
            guard let session = await currentSession(request) else {
                throw ChatRefusal(status: .unauthorized, reason: "no session: choose a name first")
            }
            guard let csrf = request.headers[HTTPField.Name("X-CSRF-Token")!], csrf == session.csrf else {
                throw ChatRefusal(status: .forbidden, reason: "missing or wrong CSRF token")
            }
            struct Body: Decodable { let text: String }
            let text = try await decodeJSON(request, as: Body.self).text
            if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw ChatRefusal.badRequest("message must not be empty")
            }
            if text.count > configuration.maxMessageLength {
                throw ChatRefusal.badRequest("message too long (max \(configuration.maxMessageLength) characters)")
            }
            let message = ChatMessage(
                id: InMemoryBroker.newID(),
                room: room,
                name: session.name,
                text: text,
                time: ChatMessage.now()
            )
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let data = String(decoding: try encoder.encode(message), as: UTF8.self)
            do {
                try await hub.publish(
                    Update(topics: [HeraldChatConfiguration.topic(ofRoom: room)], data: data, id: message.id)
                )
            } catch {
                throw ChatRefusal(status: .serviceUnavailable, reason: "message not delivered: \(error)")
            }
            return jsonResponse(.created, message)
        } catch let refusal as ChatRefusal {
            return refusal.response
        } catch {
            return ChatRefusal.badRequest("bad request").response
        }
    }

    /// Decodes a small JSON body, refusing wrong content types, oversized and malformed bodies.
    func decodeJSON<Body: Decodable>(_ request: Request, as type: Body.Type) async throws(ChatRefusal) -> Body {
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        guard contentType.hasPrefix("application/json") else {
            throw ChatRefusal(status: .unsupportedMediaType, reason: "expected Content-Type: application/json")
        }
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: 16 * 1024)
        } catch {
            throw ChatRefusal(status: .contentTooLarge, reason: "body too large")
        }
        do {
            return try JSONDecoder().decode(Body.self, from: Data(buffer: buffer))
        } catch {
            throw .badRequest("malformed JSON body")
        }
    }
}

extension Router {
    /// Mounts the demo chat: the page at `/`, its JSON API under `/chat`. Needs the hub's
    /// routes (`addHerald`) with the same subscriber key, and presence for its rooms: put
    /// `HeraldChatConfiguration.roomSelector` in the hub's `subscriptionEventSelectors` (or turn
    /// `publishesSubscriptionEvents` on for every subscription).
    @discardableResult
    public func addHeraldChat(
        _ hub: Hub,
        configuration: HeraldChatConfiguration,
        logger: Logger = Logger(label: "herald.chat")
    ) -> ChatRoutes {
        let chat = ChatRoutes(hub: hub, configuration: configuration, logger: logger)
        let link: HTTPFields = [HTTPField.Name("Link")!: "<\(configuration.hubPath)>; rel=\"mercure\""]
        self.get("/") { _, _ in ChatAssets.response(chat.assets.page, extraHeaders: link) }
        self.get("/chat/app.js") { _, _ in ChatAssets.response(chat.assets.script) }
        self.get("/chat/style.css") { _, _ in ChatAssets.response(chat.assets.style) }
        self.get("/chat/session") { request, _ in await chat.getSession(request) }
        self.post("/chat/session") { request, _ in await chat.createSession(request) }
        self.delete("/chat/session") { request, _ in chat.deleteSession(request) }
        self.get("/chat/rooms/:room") { _, context in chat.roomInfo(context.parameters.get("room") ?? "") }
        self.post("/chat/rooms/:room/messages") { request, context in
            await chat.postMessage(request, room: context.parameters.get("room") ?? "")
        }
        return chat
    }
}
