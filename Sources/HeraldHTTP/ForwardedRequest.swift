import HTTPTypes
import NIOCore

/// Whether a client is on this machine: a loopback peer that no proxy forwarded for someone
/// else. The one rule behind keyless publishing and loopback-only `/metrics`.
func isLocalClient(_ remoteAddress: SocketAddress?, forwarded: Bool) -> Bool {
    !forwarded && remoteAddress?.isLoopback == true
}

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
