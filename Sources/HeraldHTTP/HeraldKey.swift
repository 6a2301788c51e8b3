import JWTKit

/// A key that verifies Mercure JWTs: an HMAC secret (HS256, the Mercure default) or a PEM
/// public key (RS256, ES256).
public struct HeraldKey: Sendable, Hashable {
    /// Signature algorithms Herald accepts.
    public enum Algorithm: String, Sendable, Hashable, CaseIterable {
        case hs256 = "HS256"
        case rs256 = "RS256"
        case es256 = "ES256"
    }

    /// The algorithm tokens must be signed with.
    public var algorithm: Algorithm
    /// The HMAC secret, or the PEM-encoded public key.
    public var material: String

    /// Creates a key.
    public init(_ material: String, algorithm: Algorithm = .hs256) {
        self.material = material
        self.algorithm = algorithm
    }

    /// Shortest accepted HS256 secret: as long as the hash output (RFC 7518 §3.2).
    public static let minimumSecretBytes = 32

    /// Throws a short reason when the key cannot verify tokens: a too short HS256 secret or an
    /// unreadable PEM key. Call it at start-up so a bad key fails loudly, not per request.
    public func validate() throws(HeraldKeyError) {
        switch algorithm {
        case .hs256:
            if material.utf8.count < Self.minimumSecretBytes {
                throw HeraldKeyError("an HS256 secret must be at least \(Self.minimumSecretBytes) bytes long")
            }
        case .rs256:
            do { _ = try Insecure.RSA.PublicKey(pem: material) } catch {
                throw HeraldKeyError("not a PEM RSA public key (2048 bits or more)")
            }
        case .es256:
            do { _ = try ES256PublicKey(pem: material) } catch { throw HeraldKeyError("not a PEM P-256 public key") }
        }
    }

    /// A key collection holding this key, for verification (and, for HS256, signing).
    package func makeKeyCollection() async throws -> JWTKeyCollection {
        try validate()
        let keys = JWTKeyCollection()
        switch algorithm {
        case .hs256:
            await keys.add(hmac: HMACKey(from: material), digestAlgorithm: .sha256)
        case .rs256:
            await keys.add(rsa: try Insecure.RSA.PublicKey(pem: material), digestAlgorithm: .sha256)
        case .es256:
            await keys.add(ecdsa: try ES256PublicKey(pem: material))
        }
        return keys
    }
}

extension HeraldKey {
    /// Signs `claims` with this key (HS256 secrets only), e.g. to mint tokens for tests and scripts.
    public func sign(_ claims: MercureClaims) async throws -> String {
        guard algorithm == .hs256 else { throw HeraldKeyError("only HS256 keys can sign") }
        try validate()
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: material), digestAlgorithm: .sha256)
        return try await keys.sign(claims)
    }
}

/// Why a key is unusable.
public struct HeraldKeyError: Error, Hashable, CustomStringConvertible {
    /// A short reason.
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A key's verification (and, for HS256, signing) key collection, built on first use, once.
///
/// Building it is asynchronous (`JWTKeyCollection` is an actor), so it cannot happen in an
/// `init`, and starting a `Task` there to do it would be background work outside any
/// ServiceLifecycle `Service`. Instead the first caller of ``keys()`` builds it while later
/// callers wait for that same build, and everyone after gets the result (or the same error:
/// a bad key fails every use alike; `HeraldKey.validate()` at start-up makes it fail loudly).
package actor HeraldKeyRing {
    /// The key the collection holds.
    package nonisolated let key: HeraldKey
    /// The build's outcome, once it is known.
    private var built: Result<JWTKeyCollection, any Error>?
    /// Whether the first caller is building it.
    private var building = false
    /// Callers that came while it was being built.
    private var waiting: [CheckedContinuation<JWTKeyCollection, any Error>] = []

    /// A ring for `key`; nothing is built until ``keys()`` is first called.
    package init(_ key: HeraldKey) {
        self.key = key
    }

    /// The key collection, built by the first call; the key's error if it is unusable.
    package func keys() async throws -> JWTKeyCollection {
        if let built { return try built.get() }
        if building {
            // No suspension between the check and the append: the build cannot finish unseen.
            return try await withCheckedThrowingContinuation { waiting.append($0) }
        }
        building = true
        let result: Result<JWTKeyCollection, any Error>
        do {
            result = .success(try await key.makeKeyCollection())
        } catch {
            result = .failure(error)
        }
        built = result
        let waiters = waiting
        waiting = []
        for waiter in waiters { waiter.resume(with: result) }
        return try result.get()
    }
}
