import Foundation
import ServerSentEvents

extension ServerSentEvent {
    /// Decodes the event's data as JSON into `type` (Mercure updates usually carry JSON).
    public func decode<T: Decodable>(_ type: T.Type = T.self, using decoder: JSONDecoder = JSONDecoder()) throws -> T {
        try decoder.decode(type, from: Data(self.data.utf8))
    }
}

extension EventSource {
    /// The messages of this source decoded from JSON, in order; `.open`, `.reconnecting` and
    /// `.gap` are skipped (iterate the source itself to see them). Data that does not decode
    /// ends the sequence with the `DecodingError`.
    public func messages<T: Decodable & Sendable>(
        decoding type: T.Type = T.self,
        using decoder: JSONDecoder = JSONDecoder()
    ) -> AsyncThrowingCompactMapSequence<EventSource, T> {
        self.compactMap { event in
            guard case .message(let message) = event else { return nil }
            return try message.decode(T.self, using: decoder)
        }
    }
}
