import HTTPTypes
import Hummingbird

/// The methods each of the hub's paths takes, listed once for preflights, `Allow` and the 405s;
/// other methods get 405 with `Allow` and a one-line reason, instead of the router's bare 404
/// that would send a client looking for a wrong URL.
extension HeraldEndpoint {
    /// The hub path: subscribe with GET, publish with POST (HEAD would open a stream for nothing).
    static let hubMethods: [HTTPRequest.Method] = [.get, .post]
    /// The subscriptions API is read-only.
    static let subscriptionsMethods: [HTTPRequest.Method] = [.get]

    /// `Allow` for a path taking `methods` (and `OPTIONS`, the preflight).
    static func allowHeader(_ methods: [HTTPRequest.Method]) -> String {
        (methods + [.options]).map(\.rawValue).joined(separator: ", ")
    }

    func methodNotAllowed(_ request: Request, allow: String, what: String) -> Response {
        let reason = "method \(request.method.rawValue) not allowed on \(what); allowed: \(allow)"
        return allowingCORS(request, .plainText(.methodNotAllowed, reason, headers: [.allow: allow]))
    }
}

extension Router {
    /// Answers the usual methods other than `methods` with 405 on `path`.
    func refuseOtherMethods(on path: RouterPath, endpoint: HeraldEndpoint, methods: [HTTPRequest.Method], what: String) {
        let allow = HeraldEndpoint.allowHeader(methods)
        let usual: [HTTPRequest.Method] = [.head, .post, .put, .patch, .delete]
        for method in usual where !methods.contains(method) {
            self.on(path, method: method) { request, _ in
                endpoint.methodNotAllowed(request, allow: allow, what: what)
            }
        }
    }
}
