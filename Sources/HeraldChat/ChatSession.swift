import HeraldHTTP
import JWTKit

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A chat user's session, kept client-side in a signed (HS256 JWT) HttpOnly cookie. It carries
/// the display name and the CSRF token the page must echo in `X-CSRF-Token`.
struct ChatSession: JWTPayload, Equatable {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var name: String
    var csrf: String

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }

    static let cookieName = "herald_chat"

    /// A fresh session for `name`, with random id and CSRF token.
    static func new(name: String, lifetime: Double) -> ChatSession {
        ChatSession(
            sub: .init(value: randomHex(bytes: 16)),
            exp: .init(value: Date().addingTimeInterval(lifetime)),
            name: name,
            csrf: randomHex(bytes: 16)
        )
    }

    static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in
            let byte = UInt8.random(in: 0...255, using: &generator)
            return String(byte >> 4, radix: 16) + String(byte & 0xF, radix: 16)
        }.joined()
    }
}

/// Why a display name is refused, or the cleaned name.
enum DisplayName {
    static func validate(_ raw: String, maxLength: Int) -> Result<String, ChatRefusal> {
        let name = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if name.isEmpty { return .failure(.badRequest("name must not be empty")) }
        if name.count > maxLength { return .failure(.badRequest("name too long (max \(maxLength) characters)")) }
        if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return .failure(.badRequest("name must not contain control characters"))
        }
        return .success(name)
    }
}
