#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

import Hummingbird

/// A refused chat request: a status and a short reason, sent as `{"error": reason}`.
struct ChatRefusal: Error {
    let status: HTTPResponse.Status
    let reason: String

    static func badRequest(_ reason: String) -> ChatRefusal { ChatRefusal(status: .badRequest, reason: reason) }

    var answer: ChatAnswer { jsonResponse(status, ["error": reason]) }
}

/// A JSON response from an Encodable value (keys sorted, so tests and caches see stable bytes).
func jsonResponse(_ status: HTTPResponse.Status, _ value: some Encodable, headers: HTTPFields = [:]) -> ChatAnswer {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
    var headers = headers
    headers[.contentType] = "application/json; charset=utf-8"
    headers[.cacheControl] = "no-store"
    return ChatAnswer(status: status, headers: headers, body: ByteBuffer(bytes: data))
}
