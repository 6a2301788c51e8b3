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
final class TokenVerifier: Sendable {
    private let keys: Task<JWTKeyCollection, any Error>
    private let verified = NIOLockedValueBox<[String: Verified]>([:])
    private let cacheLimit = 1024
    private let cacheLifetime: TimeInterval = 300

    private struct Verified {
        let claims: MercureClaims
        let validUntil: Date
    }

    init(key: HeraldKey) {
        self.keys = Task { try await key.makeKeyCollection() }
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
            remember(token, claims)
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
        let now = Date()
        return verified.withLockedValue { cache in
            guard let entry = cache[token] else { return nil }
            if entry.validUntil <= now {
                cache[token] = nil
                return nil
            }
            return entry.claims
        }
    }

    private func remember(_ token: String, _ claims: MercureClaims) {
        var validUntil = Date().addingTimeInterval(cacheLifetime)
        if let exp = claims.exp?.value { validUntil = min(validUntil, exp) }
        verified.withLockedValue { cache in
            if cache.count >= cacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[token] = Verified(claims: claims, validUntil: validUntil)
        }
    }
}
