import HTTPTypes

/// An authorization failure answered the OAuth 2.0 way (RFC 6750 §3), as Mercure 1.0 requires:
/// the status, a `WWW-Authenticate: Bearer ...` challenge carrying the error code, and a short
/// text/plain reason.
///
/// | case | status | challenge |
/// |---|---|---|
/// | no token on an operation that needs one | 401 | `Bearer` (no error code) |
/// | token presented but invalid | 401 | `Bearer error="invalid_token", error_description="..."` |
/// | valid token without the grant | 403 | `Bearer error="insufficient_scope", ...` |
/// | malformed request (credentials) | 400 | `Bearer error="invalid_request", ...` |
public struct BearerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The RFC 6750 error codes.
    public enum Code: String, Sendable, Hashable {
        /// 400: the request is malformed (e.g. two `Authorization` headers, another scheme).
        case invalidRequest = "invalid_request"
        /// 401: the token is expired, badly signed, for another audience, malformed...
        case invalidToken = "invalid_token"
        /// 403: the token is valid but does not grant the operation.
        case insufficientScope = "insufficient_scope"
    }

    /// The error code; nil for a request that presented no token at all (a bare challenge).
    public let code: Code?
    /// A short reason, for the `error_description` and the body.
    public let reason: String

    /// A request without a token, on an operation that needs one.
    public static func missingToken(_ reason: String = "missing access token") -> BearerError {
        BearerError(code: nil, reason: reason)
    }
    /// A presented token that failed validation.
    public static func invalidToken(_ reason: String) -> BearerError { BearerError(code: .invalidToken, reason: reason) }
    /// A valid token that does not grant the operation.
    public static func insufficientScope(_ reason: String) -> BearerError {
        BearerError(code: .insufficientScope, reason: reason)
    }
    /// A malformed request.
    public static func invalidRequest(_ reason: String) -> BearerError { BearerError(code: .invalidRequest, reason: reason) }

    /// The HTTP status that goes with the code.
    public var status: HTTPResponse.Status {
        switch code {
        case nil, .invalidToken: .unauthorized
        case .insufficientScope: .forbidden
        case .invalidRequest: .badRequest
        }
    }

    /// The `WWW-Authenticate` value: `Bearer`, then `error` and `error_description` when there
    /// is an error code. The description is reduced to the characters RFC 6750 allows in it
    /// (printable ASCII except `"` and `\`), so a reason can never break the header.
    public var wwwAuthenticate: String {
        guard let code else { return "Bearer" }
        return "Bearer error=\"\(code.rawValue)\", error_description=\"\(Self.headerSafe(reason))\""
    }

    /// The answer's header fields: the challenge (with the plain-text ones added when sent).
    public var headerFields: HTTPFields {
        [.wwwAuthenticate: wwwAuthenticate]
    }

    public var description: String {
        "\(status.code) \(code?.rawValue ?? "no token"): \(reason)"
    }

    /// The same answer as the hub's other refusals carry it (status, headers, one-line body).
    var refusal: Refusal {
        Refusal(status: status, reason: reason, headers: headerFields)
    }

    /// `text` with every character outside `%x20-21 / %x23-5B / %x5D-7E` replaced by `?`, and
    /// cut to 200 bytes.
    static func headerSafe(_ text: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(min(text.utf8.count, 200))
        for byte in text.utf8.prefix(200) {
            let allowed = (0x20...0x7E).contains(byte) && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\")
            bytes.append(allowed ? byte : UInt8(ascii: "?"))
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
