import HTTPTypes
import Hummingbird

/// The router's side of the core's answers: a `HubAnswer` as a Hummingbird `Response`.
extension HubAnswer {
    var response: Response {
        Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}

extension Refusal {
    var response: Response { answer.response }
}

extension Response {
    /// A short text/plain answer (see `HubAnswer.plainText`).
    static func plainText(_ status: HTTPResponse.Status, _ text: String, headers: HTTPFields = [:]) -> Response {
        HubAnswer.plainText(status, text, headers: headers).response
    }
}
