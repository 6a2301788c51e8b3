import Foundation
import HeraldHub
import Testing

/// The hub's own event ids: random version-4 UUIDs as `urn:uuid:`, as Mercure hubs give them.
@Suite struct EventIDTests {
    @Test func idsAreWellFormedVersion4UUIDsAndUnique() throws {
        let ids = (0..<20_000).map { _ in InMemoryBroker.newID() }
        #expect(Set(ids).count == ids.count)
        let shape = try Regex("^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        for id in ids.prefix(2_000) {
            #expect(id.wholeMatch(of: shape) != nil, "\(id)")
            let uuid = try #require(UUID(uuidString: String(id.dropFirst("urn:uuid:".count))))
            #expect(uuid.uuidString.lowercased() == String(id.dropFirst(9)))
        }
        // Every hex digit that is not fixed by the version and variant takes many values.
        let digits = ids.map { Array($0.dropFirst(9).filter { $0 != "-" }) }
        for position in 0..<32 where position != 12 {
            let seen = Set(digits.map { $0[position] })
            #expect(seen.count >= (position == 16 ? 4 : 16), "position \(position): \(seen.sorted())")
        }
    }
}
