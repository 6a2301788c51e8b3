import HeraldHub
import JWTKit
import NIOConcurrencyHelpers

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Verifies Mercure JWTs against one key, turning every failure into a short reason, and the
/// claims into the core's `HubGrant` (selectors compiled once per token, not per request).
///
/// Tokens that verified are remembered (at most `cacheLimit`, each until its `exp` and for at
/// most `cacheLifetime`), so a publisher reusing its token can be served on the event loop.
final class TokenVerifier: Sendable {
    /// The key's collection, built on the first verification.
    private let keys: HeraldKeyRing
    private let hub: Hub
    private let verified = NIOLockedValueBox<[String: Verified]>([:])
    private let cacheLimit = 1024
    private let cacheLifetime: TimeInterval = 300

    private struct Verified {
        let grant: HubGrant
        let validUntil: Date
    }

    init(key: HeraldKey, hub: Hub) {
        self.hub = hub
        self.keys = HeraldKeyRing(key)
    }

    /// The token's grant, or a refusal with a reason fit for a 401 body.
    func verify(_ token: String) async throws(Refusal) -> HubGrant {
        let keys: JWTKeyCollection
        do {
            keys = try await self.keys.keys()
        } catch {
            throw .unauthorized("the hub's key is invalid")
        }
        do {
            let claims = try await keys.verify(token, as: MercureClaims.self)
            let grant = HubGrant(
                publish: claims.mercure?.publish.map { $0.compactMap { try? TopicSelector($0) } },
                subscribe: hub.claimSelectors(claims.mercure?.subscribe ?? []),
                payload: claims.mercure?.payload?.jsonText,
                expiresAt: claims.exp?.value
            )
            remember(token, grant, expiry: claims.exp?.value)
            return grant
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

    /// The grant of a token that verified recently and is still valid; nil otherwise.
    func cachedGrant(_ token: String) -> HubGrant? {
        let now = Date()
        return verified.withLockedValue { cache in
            guard let entry = cache[token] else { return nil }
            if entry.validUntil <= now {
                cache[token] = nil
                return nil
            }
            return entry.grant
        }
    }

    private func remember(_ token: String, _ grant: HubGrant, expiry: Date?) {
        var validUntil = Date().addingTimeInterval(cacheLifetime)
        if let expiry { validUntil = min(validUntil, expiry) }
        verified.withLockedValue { cache in
            if cache.count >= cacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[token] = Verified(grant: grant, validUntil: validUntil)
        }
    }
}
