extension ServerSentEvent {
    /// Checks that the event can be encoded faithfully, so callers can reject bad input early
    /// (for example when it is published rather than when it is sent).
    public func validate() throws(ServerSentEventEncodingError) {
        if let id, id.utf8.contains(where: { $0 == ASCII.cr || $0 == ASCII.lf || $0 == ASCII.nul }) {
            throw .invalidID(id)
        }
        if let event, event.utf8.contains(where: { $0 == ASCII.cr || $0 == ASCII.lf }) {
            throw .invalidEventType(event)
        }
        if let retry, retry < 0 {
            throw .invalidRetry(retry)
        }
    }
}
