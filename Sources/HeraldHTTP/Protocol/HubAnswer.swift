import HTTPTypes

/// A finished answer of the protocol core: status, header fields and a short body. Every
/// transport writes it as it is (the router as a `Response`, the event-loop handler as HTTP
/// parts), so an answer is decided once for all of them.
package struct HubAnswer: Sendable {
    package var status: HTTPResponse.Status
    package var headers: HTTPFields
    package var body: String

    /// A publish's answer: `200`, text/plain, the new update's id exactly (no newline), on
    /// every path (`HeraldEndpoint.publishedAnswer` is the same as finished bytes).
    static func published(_ id: String) -> HubAnswer {
        HubAnswer(status: .ok, headers: .plainText, body: id)
    }

    /// A short text/plain answer: the hub's errors carry a one-line reason and nothing else.
    static func plainText(_ status: HTTPResponse.Status, _ text: String, headers: HTTPFields = [:]) -> HubAnswer {
        var fields = headers
        fields.append(contentsOf: HTTPFields.plainText)
        return HubAnswer(status: status, headers: fields, body: Refusal.line(text))
    }
}

/// A refused request: its status and a one-line reason, sent as text/plain.
struct Refusal: Error {
    let status: HTTPResponse.Status
    let reason: String
    var headers: HTTPFields = [:]

    static func badRequest(_ reason: String) -> Refusal { Refusal(status: .badRequest, reason: reason) }
    static func unauthorized(_ reason: String) -> Refusal {
        Refusal(status: .unauthorized, reason: reason, headers: [.wwwAuthenticate: "Bearer realm=\"herald\""])
    }
    static func forbidden(_ reason: String) -> Refusal { Refusal(status: .forbidden, reason: reason) }
    /// A body larger than the limit, declared (`Content-Length`) or seen.
    static func bodyTooLarge(_ limit: Int) -> Refusal {
        Refusal(status: .contentTooLarge, reason: "body larger than \(limit) bytes")
    }
    /// RFC 6750 `invalid_request` (400): a Mercure 1.0 request that is malformed as such.
    static func invalidRequest(_ reason: String) -> Refusal {
        Refusal(
            status: .badRequest,
            reason: reason,
            headers: [.wwwAuthenticate: "Bearer realm=\"herald\", error=\"invalid_request\""]
        )
    }

    var answer: HubAnswer { .plainText(status, reason, headers: headers) }

    /// The body of a short text/plain answer: its line of text and a newline (a reason reads
    /// well in a terminal). A publish's answer is the exception: the id exactly.
    static func line(_ text: String) -> String { text + "\n" }
}

extension HTTPFields {
    /// The headers of every short text/plain answer.
    static let plainText: HTTPFields = [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"]
}

extension HTTPField.Name {
    /// `Last-Event-ID`, sent by reconnecting EventSource clients and by Mercure 0.x hubs.
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
    /// `Mercure-Last-Event-ID`, the Mercure 1.0 answer to a subscribe that asked for a replay.
    static let mercureLastEventID = HTTPField.Name("Mercure-Last-Event-ID")!
    /// `X-Accel-Buffering`, which tells nginx not to buffer the stream.
    static let accelBuffering = HTTPField.Name("X-Accel-Buffering")!
}
