import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import ServerSentEvents

extension EventSource.Iterator {
    /// Makes one attempt: on `200 text/event-stream` the body becomes the open stream and `.open`
    /// is pending; on a network failure the next attempt is scheduled; on an answer that will not
    /// change by retrying, throws the typed error.
    mutating func connect() async throws {
        let configuration = self.source.configuration
        var request = HTTPClientRequest(url: self.source.url)
        request.method = .GET
        request.headers = configuration.headers
        request.headers.replaceOrAdd(name: "Accept", value: "text/event-stream")
        request.headers.replaceOrAdd(name: "Cache-Control", value: "no-store")
        if self.parser.lastEventID.isEmpty {
            request.headers.remove(name: "Last-Event-ID")
        } else {
            request.headers.replaceOrAdd(name: "Last-Event-ID", value: self.parser.lastEventID)
        }

        var tokenIsFresh = false
        if let provider = self.source.tokenProvider {
            if self.token.map({ $0.isNearExpiry(leeway: configuration.tokenRefreshLeeway) }) ?? true {
                do {
                    self.token = CachedToken(try await provider())
                    tokenIsFresh = true
                } catch {
                    try Task.checkCancellation()
                    try self.connectionEnded(reason: "the token provider failed: \(error)")
                    return
                }
            }
            if let token = self.token {
                request.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(token.value)")
            }
        }

        let response: HTTPClientResponse
        do {
            response = try await self.source.httpClient.execute(request, timeout: Self.timeAmount(configuration.responseTimeout))
        } catch {
            try Task.checkCancellation()
            try self.connectionEnded(reason: "could not connect: \(error)")
            return
        }

        switch response.status {
        case .ok:
            let type = response.headers.first(name: "Content-Type")
            guard let type, Self.isEventStream(type) else {
                throw EventSourceError.contentType(type)
            }
            self.body = response.body.makeAsyncIterator()
            self.pending.append(.open)
        case .noContent:
            throw EventSourceError.noContent
        case .unauthorized where self.source.tokenProvider != nil && !tokenIsFresh:
            // The token was refused before we thought it expired (revoked, clock skew): get a
            // new one and try again at once. If the new one is refused too, that is final.
            self.token = nil
        default:
            let reason = (try? await response.body.collect(upTo: 1024)).map { String(buffer: $0) }
            throw EventSourceError.status(code: Int(response.status.code), reason: reason ?? "")
        }
    }

    /// Whether a `Content-Type` value's MIME type essence is `text/event-stream` (parameters,
    /// case and spaces around it do not matter).
    static func isEventStream(_ contentType: String) -> Bool {
        let essence = contentType.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return essence.trimmingASCIIWhitespace().lowercased() == "text/event-stream"
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

extension Substring {
    fileprivate func trimmingASCIIWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = self.firstIndex(where: { !isSpace($0) }), let last = self.lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return self[first...last]
    }
}
