import Hummingbird

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where a request's JWT came from; cookies need a same-origin check on publish.
enum CredentialSource: Hashable {
    case header, query, cookie
}

extension Request {
    /// The Mercure JWT of this request: `Authorization: Bearer`, else the `authorization` query
    /// parameter, else the cookie (the order Mercure hubs use).
    func mercureToken(cookieName: String, query: FormFields?) -> (token: String, source: CredentialSource)? {
        if let header = headers[.authorization], let token = bearerToken(header) {
            return (token, .header)
        }
        if let value = query?.values("authorization").first, !value.isEmpty {
            return (value, .query)
        }
        if let cookie = cookies[cookieName]?.value, !cookie.isEmpty {
            return (cookie, .cookie)
        }
        return nil
    }

    /// Whether an `Origin` header, if any, names the same host and port this request was sent
    /// to: the same-origin check that keeps cookie-authenticated writes safe from CSRF.
    public var isSameOriginOrNoOrigin: Bool {
        guard let origin = headers[.origin] else { return true }
        guard let host = head.authority else { return false }
        guard let schemeEnd = origin.range(of: "://") else { return false }
        return origin[schemeEnd.upperBound...].lowercased() == host.lowercased()
    }
}

extension Request {
    /// Whether the request names a loopback host (`localhost`, `127.x.x.x`, `[::1]`) in its
    /// `Host`: what a page on this machine's own hub sends, unlike a rebound public name.
    var isAddressedToLoopback: Bool {
        guard var host = head.authority?.lowercased() else { return false }
        if host.hasPrefix("[") {
            guard let end = host.firstIndex(of: "]") else { return false }
            return host[host.index(after: host.startIndex)..<end] == "::1"
        }
        if let colon = host.lastIndex(of: ":") { host = String(host[..<colon]) }
        if host == "localhost" || host.hasSuffix(".localhost") { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}

/// The token of an `Authorization: Bearer <token>` value; nil for any other scheme.
func bearerToken(_ authorization: String) -> String? {
    let parts = authorization.split(separator: " ", maxSplits: 1)
    guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
    return String(parts[1]).trimmingSpaces
}

extension String {
    var trimmingSpaces: String {
        var view = Substring(self)
        while view.first == " " { view.removeFirst() }
        while view.last == " " { view.removeLast() }
        return String(view)
    }
}
