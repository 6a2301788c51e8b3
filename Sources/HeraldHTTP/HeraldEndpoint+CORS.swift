import HTTPTypes
import Hummingbird

/// Cross-origin use of the hub from browsers (see `CORSPolicy` and
/// `HeraldHTTPConfiguration.corsOrigins`).
extension HeraldEndpoint {
    /// `response` with the CORS headers its request's `Origin` earns (none when CORS is off or
    /// the origin is not allowed: the browser then keeps the answer from the page).
    func allowingCORS(_ request: Request, _ response: Response) -> Response {
        guard cors.isEnabled, let origin = request.headers[.origin] else { return response }
        var response = response
        response.headers.append(contentsOf: cors.headers(for: origin))
        return response
    }

    /// `OPTIONS`: answers a browser's preflight with 204 and what the page may do, or 403 with
    /// the reason when the origin is not allowed. Without `Origin` it just lists the methods.
    func preflight(_ request: Request, methods: String) -> Response {
        guard let origin = request.headers[.origin], request.headers[.accessControlRequestMethod] != nil else {
            return Response(status: .noContent, headers: [.allow: methods + ", OPTIONS"])
        }
        guard cors.isEnabled else {
            return .plainText(.forbidden, "cross-origin requests are not enabled on this hub (see corsOrigins)")
        }
        guard let headers = cors.preflightHeaders(for: origin, methods: methods) else {
            return .plainText(.forbidden, "origin not allowed (see corsOrigins)")
        }
        return Response(status: .noContent, headers: headers)
    }

    /// Refuses a publish sent by a page on another origin that the hub does not allow, so no
    /// site can publish through its visitor's loopback address or cookie; cookies are taken
    /// only from origins listed by name.
    func checkPublishOrigin(_ request: Request, credentials: CredentialSource?) throws(Refusal) {
        guard let origin = request.headers[.origin], !request.isSameOriginOrNoOrigin else { return }
        if credentials == .cookie, !cors.isListed(origin) {
            throw .forbidden("cross-origin publish with a cookie is refused")
        }
        if !cors.allows(origin) {
            throw .forbidden("cross-origin publish refused: origin not allowed (see corsOrigins)")
        }
    }
}
