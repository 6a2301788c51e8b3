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

    var response: Response { .plainText(status, reason, headers: headers) }
}

extension Response {
    /// A short text/plain answer: the hub's errors carry a one-line reason and nothing else.
    static func plainText(_ status: HTTPResponse.Status, _ text: String, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers.append(contentsOf: HTTPFields.plainText)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text + "\n")))
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
