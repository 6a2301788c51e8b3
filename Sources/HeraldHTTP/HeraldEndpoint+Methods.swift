import HTTPTypes
import Hummingbird

/// Methods the hub's paths do not take: 405 with `Allow` and a one-line reason, instead of the
/// router's bare 404 that would send a client looking for a wrong URL.
extension HeraldEndpoint {
    /// The hub path: subscribe with GET, publish with POST (HEAD would open a stream for nothing).
    static let hubMethods = "GET, POST, OPTIONS"
    /// The subscriptions API is read-only.
    static let subscriptionsMethods = "GET, OPTIONS"

    func methodNotAllowed(_ request: Request, allow: String, what: String) -> Response {
        let reason = "method \(request.method.rawValue) not allowed on \(what); allowed: \(allow)"
        return allowingCORS(request, .plainText(.methodNotAllowed, reason, headers: [.allow: allow]))
    }
}

extension Router {
    /// Answers the usual methods that `allow` leaves out with 405 on `path`.
    func refuseOtherMethods(on path: RouterPath, endpoint: HeraldEndpoint, allow: String, what: String) {
        let methods: [HTTPRequest.Method] = [.head, .post, .put, .patch, .delete]
        let allowed = allow.split(separator: ", ")
        for method in methods where !allowed.contains(Substring(method.rawValue)) {
            self.on(path, method: method) { request, _ in
                endpoint.methodNotAllowed(request, allow: allow, what: what)
            }
        }
    }
}
