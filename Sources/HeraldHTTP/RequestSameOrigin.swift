import Hummingbird

extension Request {
    /// Whether an `Origin` header, if any, names the same host and port this request was sent
    /// to: the same-origin check that keeps cookie-authenticated writes safe from CSRF (the
    /// core's rule, `HubRequest.isSameOrigin`, for routes of an app beside the hub).
    package var isSameOriginOrNoOrigin: Bool {
        HubRequest.isSameOrigin(origin: headers[.origin], authority: head.authority)
    }
}
