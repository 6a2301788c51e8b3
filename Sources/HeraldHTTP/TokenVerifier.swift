import JWTKit
import NIOConcurrencyHelpers

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Verifies Mercure JWTs against one key, turning every failure into a short reason.
///
/// Tokens that verified are remembered (at most `cacheLimit`, each until its `exp` and for at
/// most `cacheLifetime`), so a publisher reusing its token can be served on the event loop.
/// 0.x tokens: ``verify(_:)``; both kinds as one grant, 1.0 access tokens included:
/// ``grant(for:audience:accepting:)`` (AccessToken.swift).
final class TokenVerifier: Sendable {
    let keys: Task<JWTKeyCollection, any Error>
    /// The algorithm of the hub's key: a token whose header names another is refused.
    let algorithm: HeraldKey.Algorithm
    /// How 1.0 access tokens are checked (trusted issuers, limits).
    let accessTokenRules: AccessTokenRules
    private let verified = VerifiedTokenCache<MercureClaims>()
    /// Grants of recently verified tokens (both kinds), with the audience each was checked for.
    let grants = VerifiedTokenCache<MercureGrant>()

    init(key: HeraldKey, accessTokenRules: AccessTokenRules = AccessTokenRules()) {
        self.keys = Task { try await key.makeKeyCollection() }
        self.algorithm = key.algorithm
        self.accessTokenRules = accessTokenRules
    }

    /// The token's claims, or a refusal with a reason fit for a 401 body.
    func verify(_ token: String) async throws(Refusal) -> MercureClaims {
        let keys: JWTKeyCollection
        do {
            keys = try await self.keys.value
        } catch {
            throw .unauthorized("the hub's key is invalid")
        }
        do {
            let claims = try await keys.verify(token, as: MercureClaims.self)
            verified.remember(token, claims, audience: nil, validUntil: claims.exp?.value)
            return claims
        } catch let error as JWTError {
            let reason: String =
                switch error.errorType {
                case .claimVerificationFailure: "token expired or not yet valid"
                case .signatureVerificationFailed: "invalid token signature"
                case .malformedToken: "malformed token"
                default: "invalid token"
                }
            throw .unauthorized(reason)
        } catch {
            throw .unauthorized("malformed token")
        }
    }

    /// The claims of a token that verified recently and is still valid; nil otherwise.
    func cachedClaims(_ token: String) -> MercureClaims? {
        verified.value(for: token, audience: nil)
    }
}

/// Recently verified tokens and what they verified to, bounded: at most `limit` entries (all
/// dropped at once when full, so a flood of distinct tokens costs a re-verification, never
/// memory), each kept until the token's `exp` and for at most `lifetime`.
final class VerifiedTokenCache<Value: Sendable>: Sendable {
    private struct Entry {
        let value: Value
        /// The audience the token was checked for (1.0 access tokens); nil for 0.x tokens.
        let audience: String?
        let validUntil: Date
    }

    private let entries = NIOLockedValueBox<[String: Entry]>([:])
    let limit: Int
    let lifetime: TimeInterval

    init(limit: Int = 1024, lifetime: TimeInterval = 300) {
        self.limit = limit
        self.lifetime = lifetime
    }

    /// The value `token` verified to for `audience`, if still valid; nil otherwise.
    func value(for token: String, audience: String?) -> Value? {
        let now = Date()
        return entries.withLockedValue { entries in
            guard let entry = entries[token] else { return nil }
            if entry.validUntil <= now {
                entries[token] = nil
                return nil
            }
            return entry.audience == audience ? entry.value : nil
        }
    }

    func remember(_ token: String, _ value: Value, audience: String?, validUntil expiry: Date?) {
        var validUntil = Date().addingTimeInterval(lifetime)
        if let expiry { validUntil = min(validUntil, expiry) }
        entries.withLockedValue { entries in
            if entries.count >= limit { entries.removeAll(keepingCapacity: true) }
            entries[token] = Entry(value: value, audience: audience, validUntil: validUntil)
        }
    }

    /// How many tokens are remembered (for tests).
    var count: Int { entries.withLockedValue { $0.count } }
}
