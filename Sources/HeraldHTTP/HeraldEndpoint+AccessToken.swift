import Hummingbird

/// Interim wiring of Mercure 1.0 access tokens into today's publish path, so they can be tried
/// end to end before the protocol core lands (which calls `TokenVerifier.grant(for:audience:accepting:)`
/// itself and replaces this file).
extension HeraldEndpoint {
    /// The hub's resource identifier for `request`: configured, or its own URL as the client
    /// reached it (HTTP/2 requests carry their scheme; HTTP/1.1 ones are taken as `http`).
    func resourceIdentifier(of request: Request) -> String? {
        configuration.resourceIdentifier(scheme: request.head.scheme ?? "http", authority: request.head.authority)
    }

    /// Authorizes a publish whose token is a 1.0 access token (`typ: at+jwt`) with RFC 6750
    /// answers, returning true; returns false for any other token (0.x rules apply).
    func authorizeAccessTokenPublisher(
        _ request: Request,
        token: String,
        topics: [String],
        verifier: TokenVerifier
    ) async throws(Refusal) -> Bool {
        guard (try? TokenVerifier.header(of: token)).map({ AccessTokenRules.isAccessTokenType($0.typ) }) == true else {
            return false
        }
        let grant: MercureGrant
        do {
            grant = try await verifier.grant(for: token, audience: resourceIdentifier(of: request), accepting: [.accessToken])
        } catch {
            throw error.refusal
        }
        guard grant.publish != nil else { throw BearerError.insufficientScope("token grants no publish action").refusal }
        if let topic = grant.firstTopicNotPublishable(topics) {
            throw BearerError.insufficientScope("not allowed to publish to \(topic)").refusal
        }
        return true
    }
}
