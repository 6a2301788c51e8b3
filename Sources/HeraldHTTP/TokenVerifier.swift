import JWTKit

/// Verifies Mercure JWTs against one key, turning every failure into a short reason.
final class TokenVerifier: Sendable {
    private let keys: Task<JWTKeyCollection, any Error>

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
            return try await keys.verify(token, as: MercureClaims.self)
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
}
