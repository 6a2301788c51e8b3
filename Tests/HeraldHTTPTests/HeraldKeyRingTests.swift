import HeraldHTTP
import JWTKit
import Testing

/// The key ring that replaced the `Task`s verifiers and the chat started from their inits to
/// build their key collections: built on first use, once, whoever asks concurrently.
@Suite struct HeraldKeyRingTests {
    static let secret = "key-ring-secret-key-ring-secret-0123"

    @Test func concurrentFirstCallersShareOneBuild() async throws {
        let ring = HeraldKeyRing(HeraldKey(Self.secret))
        let collections = try await withThrowingTaskGroup(of: JWTKeyCollection.self) { group in
            for _ in 0..<32 { group.addTask { try await ring.keys() } }
            var all: [JWTKeyCollection] = []
            for try await collection in group { all.append(collection) }
            return all
        }
        // Every caller got the same collection: it was built once.
        #expect(collections.count == 32)
        #expect(collections.allSatisfy { $0 === collections[0] })
        #expect(try await ring.keys() === collections[0])
        // And it holds the key: what it signs, the key verifies.
        let token = try await collections[0].sign(MercureClaims(mercure: .init(subscribe: ["/a"])))
        let claims = try await HeraldKeyRing(HeraldKey(Self.secret)).keys().verify(token, as: MercureClaims.self)
        #expect(claims.mercure?.subscribe == ["/a"])
    }

    @Test func anUnusableKeyFailsEveryCallerAlike() async throws {
        let ring = HeraldKeyRing(HeraldKey("too short"))
        let failures = await withTaskGroup(of: String?.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    do {
                        _ = try await ring.keys()
                        return nil
                    } catch {
                        return "\(error)"
                    }
                }
            }
            var all: [String?] = []
            for await failure in group { all.append(failure) }
            return all
        }
        #expect(failures.count == 8)
        #expect(failures.allSatisfy { $0?.contains("at least 32 bytes") == true })
        await #expect(throws: HeraldKeyError.self) { try await ring.keys() }
    }
}
