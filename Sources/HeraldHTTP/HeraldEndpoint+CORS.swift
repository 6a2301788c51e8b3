import HTTPTypes
import Hummingbird

/// Cross-origin use of the hub from browsers (see `CORSPolicy` and
/// `HeraldHTTPConfiguration.corsOrigins`).
extension HeraldEndpoint {
    /// `response` with the CORS headers its request's `Origin` earns (see
    /// `CORSPolicy.headers(for:)`; without an allowed origin the browser keeps the answer from
    /// the page).
    func allowingCORS(_ request: Request, _ response: Response) -> Response {
        let fields = cors.headers(for: request.headers[.origin])
        guard !fields.isEmpty else { return response }
        var response = response
        response.headers.append(contentsOf: fields)
        return response
    }

    /// `OPTIONS`: answers a browser's preflight with 204 and what the page may do, or 403 with
    /// the reason when the origin is not allowed. Without `Origin` it just lists the methods.
    func preflight(_ request: Request, methods: [HTTPRequest.Method]) -> Response {
        guard let origin = request.headers[.origin], request.headers[.accessControlRequestMethod] != nil else {
            return Response(status: .noContent, headers: [.allow: Self.allowHeader(methods)])
        }
        guard cors.isEnabled else {
            return .plainText(.forbidden, "cross-origin requests are not enabled on this hub (see corsOrigins)")
        }
        let privateNetwork = request.headers[CORSPolicy.requestPrivateNetwork]?.lowercased() == "true"
        let listed = methods.map(\.rawValue).joined(separator: ", ")
        guard let headers = cors.preflightHeaders(for: origin, methods: listed, privateNetwork: privateNetwork) else {
            return .plainText(.forbidden, "origin not allowed (see corsOrigins)")
        }
        return Response(status: .noContent, headers: headers)
    }

    /// Refuses a publish that a web page sent with credentials it did not choose. Loopback (a
    /// keyless hub) and cookies come with the visitor's browser, so a page on another origin
    /// may use them only when its origin is listed by name; `*` covers bearer tokens only.
    /// A keyless hub also takes same-origin publishes only under a loopback host name: a page
    /// whose own name was rebound to 127.0.0.1 (DNS rebinding) is same-origin with itself.
    func checkPublishOrigin(_ request: Request, credentials: CredentialSource?) throws(Refusal) {
        guard let origin = request.headers[.origin] else { return }
        let ambient = credentials == nil || credentials == .cookie
        if request.isSameOriginOrNoOrigin {
            if credentials == nil, !request.isAddressedToLoopback, !cors.isListed(origin) {
                throw .forbidden("publish refused: a hub without a publisher key takes browser publishes only from pages on a loopback host name")
            }
            return
        }
        if ambient ? cors.isListed(origin) : cors.allows(origin) { return }
        if credentials == .cookie { throw .forbidden("cross-origin publish with a cookie is refused") }
        throw .forbidden("cross-origin publish refused: origin not allowed (see corsOrigins)")
    }
}
