import HTTPTypes
import Hummingbird

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

    var response: Response { .plainText(status, reason, headers: headers) }

    /// The body of a short text/plain answer: its line of text and a newline (a reason reads
    /// well in a terminal). A publish's answer is the exception: the id exactly.
    static func line(_ text: String) -> String { text + "\n" }
}

extension Response {
    /// A short text/plain answer: the hub's errors carry a one-line reason and nothing else.
    static func plainText(_ status: HTTPResponse.Status, _ text: String, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers.append(contentsOf: HTTPFields.plainText)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: Refusal.line(text))))
    }

    /// A publish's answer: `200`, text/plain, the new update's id exactly (no newline), on
    /// every path (`HeraldEndpoint.publishedAnswer` is the same as finished bytes).
    static func publishedID(_ id: String) -> Response {
        Response(status: .ok, headers: HTTPFields.plainText, body: ResponseBody(byteBuffer: ByteBuffer(string: id)))
    }
}

extension HTTPFields {
    /// The headers of every short text/plain answer.
    static let plainText: HTTPFields = [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"]
}

extension HTTPField.Name {
    /// `Last-Event-ID`, sent by reconnecting EventSource clients and by Mercure hubs.
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
    /// `X-Accel-Buffering`, which tells nginx not to buffer the stream.
    static let accelBuffering = HTTPField.Name("X-Accel-Buffering")!
}
