import HTTPTypes

extension HTTPFields {
    /// Whether a proxy forwarded the request (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`). Such
    /// a request arrives from the proxy's loopback address but comes from someone else, so it
    /// never counts as a local client: not for keyless publishing, not for `/metrics`.
    var isForwardedByProxy: Bool {
        self[.forwarded] != nil || self[.xForwardedFor] != nil || self[.xRealIP] != nil
    }
}

extension HTTPField.Name {
    /// RFC 7239 `Forwarded`.
    static let forwarded = HTTPField.Name("Forwarded")!
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
    static let xRealIP = HTTPField.Name("X-Real-IP")!
}
