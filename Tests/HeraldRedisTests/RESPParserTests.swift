import HeraldRedis
import NIOCore
import Testing

@Suite("RESP decoding of well-formed input")
struct RESPParserTests {
    @Test("RESP2 vectors, whole, split at every byte and byte by byte",
          arguments: DecodingVectors.resp2, Chunking.allCases)
    func resp2(vector: DecodingVector, chunking: Chunking) throws {
        try check(vector, chunking)
    }

    @Test("RESP3 vectors, whole, split at every byte and byte by byte",
          arguments: DecodingVectors.resp3, Chunking.allCases)
    func resp3(vector: DecodingVector, chunking: Chunking) throws {
        try check(vector, chunking)
    }

    private func check(_ vector: DecodingVector, _ chunking: Chunking) throws {
        for chunks in chunking.cuts(of: vector.wire) {
            let (values, leftover) = try decodeChunks(chunks)
            #expect(values == [vector.expected], "cut as \(chunks.map(\.count))")
            #expect(leftover == 0)
        }
    }

    @Test("All vectors back to back decode in order, byte by byte")
    func stream() throws {
        let wire = DecodingVectors.all.flatMap(\.wire)
        let (values, leftover) = try decodeChunks(wire.map { [$0] })
        #expect(values == DecodingVectors.all.map(\.expected))
        #expect(leftover == 0)
    }

    @Test("NaN decodes (NaN never equals itself, so it is checked apart)", arguments: Chunking.allCases)
    func notANumber(chunking: Chunking) throws {
        for chunks in chunking.cuts(of: Array(",nan\r\n".utf8)) {
            let (values, _) = try decodeChunks(chunks)
            guard values.count == 1, case .double(let number) = values[0] else {
                Issue.record("expected one double, got \(values)")
                return
            }
            #expect(number.isNaN)
        }
    }

    @Test("An incomplete value consumes nothing and yields nil until it is complete")
    func incomplete() throws {
        var parser = RESPParser()
        var buffer = ByteBuffer(string: "$5\r\nhel")
        #expect(try parser.next(from: &buffer) == nil)
        #expect(buffer.readableBytes == 7)
        buffer.writeString("lo\r\n+OK")
        #expect(try parser.next(from: &buffer) == bulk("hello"))
        #expect(try parser.next(from: &buffer) == nil)
        #expect(buffer.readableBytes == 3)
    }

    @Test("Finished elements of an unfinished aggregate are kept by the parser")
    func partialAggregate() throws {
        var parser = RESPParser()
        var buffer = ByteBuffer(string: "*3\r\n:1\r\n:2\r\n")
        #expect(try parser.next(from: &buffer) == nil)
        #expect(parser.isMidValue)
        #expect(buffer.readableBytes == 0)
        buffer.writeString(":3\r\n")
        #expect(try parser.next(from: &buffer) == .array([.integer(1), .integer(2), .integer(3)]))
        #expect(!parser.isMidValue)
    }

    @Test("Nesting up to the depth limit decodes")
    func deepButAllowed() throws {
        let wire = String(repeating: "*1\r\n", count: 32) + ":7\r\n"
        let (values, _) = try decodeChunks([Array(wire.utf8)])
        var expected = RESPValue.integer(7)
        for _ in 0..<32 { expected = .array([expected]) }
        #expect(values == [expected])
    }

    @Test("A bulk string of exactly the limit decodes")
    func bulkAtLimit() throws {
        let limits = RESPDecoderLimits(maxBulkLength: 10)
        let (values, _) = try decodeChunks([Array("$10\r\n0123456789\r\n".utf8)], limits: limits)
        #expect(values == [bulk("0123456789")])
    }

    @Test("Binary bulk payloads keep every byte value")
    func binaryBulk() throws {
        let payload = (0...255).map { UInt8($0) }
        let wire = Array("$256\r\n".utf8) + payload + Array("\r\n".utf8)
        let (values, _) = try decodeChunks(wire.map { [$0] })
        #expect(values == [.bulkString(ByteBuffer(bytes: payload))])
    }
}
