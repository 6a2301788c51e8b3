import HeraldRedis
import NIOCore
import Testing

/// A small deterministic generator, so a failure here can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("RESP decoding of random damage")
struct RESPParserFuzzTests {
    @Test("Mutated vectors, fed in random chunks, decode or throw but never crash or hang")
    func mutations() {
        var random = SplitMix64(state: 0x5EED)
        let seeds = DecodingVectors.all.map(\.wire)
        var decoded = 0
        var failed = 0
        for _ in 0..<5_000 {
            var bytes = seeds.randomElement(using: &random)! + seeds.randomElement(using: &random)!
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let position = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0: bytes[position] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes.remove(at: position)
                case 2: bytes.insert(Array("\r\n*$:-%|>~".utf8).randomElement(using: &random)!, at: position)
                default: bytes.insert(UInt8(ascii: "9"), at: position)
                }
                if bytes.isEmpty { bytes = [UInt8(ascii: "*")] }
            }
            var chunks: [[UInt8]] = []
            var rest = bytes[...]
            while !rest.isEmpty {
                let size = Int.random(in: 1...max(1, rest.count), using: &random)
                chunks.append(Array(rest.prefix(size)))
                rest = rest.dropFirst(size)
            }
            do {
                _ = try decodeChunks(chunks, limits: RESPDecoderLimits(maxBulkLength: 4096, maxAggregateCount: 4096))
                decoded += 1
            } catch {
                failed += 1
            }
        }
        // Both outcomes must occur, or the mutations are not exercising the error paths.
        #expect(decoded > 100)
        #expect(failed > 100)
    }
}
