#if Vapor
import HTTPTypes
import HeraldChat
import HeraldHTTP
import HeraldHub
import HeraldVapor
import NIOHTTPTypesHTTP1
import Vapor

// Herald's demo chat served by a Vapor app: the hub mounted with `app.herald`, and the chat's
// page and JSON API (HeraldChat's logic and assets, the same as `herald serve` uses) on Vapor
// routes. Run: `swift run --traits Vapor VaporChat [--port N]`, then open http://127.0.0.1:8080/.
//
// Environment: VAPORCHAT_SECRET (32+ bytes) keeps sessions across restarts; a random one otherwise.

let app = try await Application.make(.detect())
let secret = Environment.get("VAPORCHAT_SECRET") ?? (0..<4).map { _ in UUID().uuidString }.joined()

var hubConfiguration = HubConfiguration()
// The chat's "who is here" needs presence, for its rooms only.
hubConfiguration.subscriptionEventSelectors = [HeraldChatConfiguration.roomSelector]
let hub = Hub(configuration: hubConfiguration, logger: app.logger)

var http = HeraldHTTPConfiguration()
http.subscriberKey = HeraldKey(secret + ":subscriber")
app.herald(HeraldEndpoint(hub: hub, configuration: http, logger: app.logger))

var chatConfiguration = HeraldChatConfiguration(sessionSecret: secret + ":session", subscriberKey: HeraldKey(secret + ":subscriber"))
chatConfiguration.hubPath = http.path
let chat = ChatRoutes(hub: hub, configuration: chatConfiguration, logger: app.logger)

/// The chat's view of a Vapor request (its body read up to the chat's limit; nil past it).
func chatRequest(_ request: Request) async -> ChatRequest {
    let body = try? await request.body.collect(upTo: ChatRequest.maxBodySize)
    let (headers, authority) = request.headers.heraldFields
    return ChatRequest(headers: headers, authority: authority, body: body)
}

/// A chat answer as a Vapor response, as it is.
func response(_ answer: ChatAnswer) -> Response {
    Response(status: HTTPResponseStatus(statusCode: answer.status.code), headers: HTTPHeaders(answer.headers), body: .init(buffer: answer.body))
}

app.get { _ in response(chat.page()) }
app.get("chat", "app.js") { _ in response(chat.script()) }
app.get("chat", "style.css") { _ in response(chat.style()) }
app.on(.GET, "chat", "session", body: .stream) { request in response(await chat.getSession(await chatRequest(request))) }
app.on(.POST, "chat", "session", body: .stream) { request in response(await chat.createSession(await chatRequest(request))) }
app.on(.DELETE, "chat", "session", body: .stream) { request in response(chat.deleteSession(await chatRequest(request))) }
app.get("chat", "rooms", ":room") { request in response(chat.roomInfo(request.parameters.get("room") ?? "")) }
app.on(.POST, "chat", "rooms", ":room", "messages", body: .stream) { request in
    response(await chat.postMessage(await chatRequest(request), room: request.parameters.get("room") ?? ""))
}
app.get("healthz") { _ in "ok\n" }

try await app.execute()
try await app.asyncShutdown()
#else
print("VaporChat needs the Vapor trait: swift run --traits Vapor VaporChat")
#endif
