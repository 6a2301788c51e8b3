import Foundation

/// Gives the bearer token an ``EventSource`` sends. It is called before the first connection,
/// again before a reconnection when the token's `exp` is near (within
/// `Configuration.tokenRefreshLeeway`; read from the JWT's payload, unverified: the server
/// verifies it), and at once when the server answers `401` to a token it had not just given.
/// A token that is not a JWT with an `exp` is replaced on `401` only. An error it throws counts
/// as a failed attempt (retried with back-off), so a token service that is briefly down is
/// survived.
public typealias AccessTokenProvider = @Sendable () async throws -> String

/// A token as given, and when it stops being valid if it says so.
struct CachedToken: Sendable {
    let value: String
    let expiry: ContinuousClock.Instant?

    init(_ value: String, now: ContinuousClock.Instant = .now, wallClock: Date = Date()) {
        self.value = value
        if let exp = Self.expiration(of: value) {
            self.expiry = now.advanced(by: .seconds(exp - wallClock.timeIntervalSince1970))
        } else {
            self.expiry = nil
        }
    }

    func isNearExpiry(leeway: Duration, now: ContinuousClock.Instant = .now) -> Bool {
        guard let expiry else { return false }
        return now.advanced(by: leeway) >= expiry
    }

    /// The `exp` claim (seconds since 1970) of a compact JWS, if it is one and has it.
    static func expiration(of token: String) -> Double? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var base64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let payload = Data(base64Encoded: base64),
            let object = try? JSONSerialization.jsonObject(with: payload) as? [String: Any],
            let exp = object["exp"] as? NSNumber
        else { return nil }
        return exp.doubleValue
    }
}
