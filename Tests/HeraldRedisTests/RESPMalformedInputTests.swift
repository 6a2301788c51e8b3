import HeraldRedis
import NIOCore
import Testing

/// One malformed input and the kind of error it must raise.
struct MalformedVector: Sendable, CustomTestStringConvertible {
    let name: String
    let wire: [UInt8]
    let kind: RESPDecodingError.Kind
    let limits: RESPDecoderLimits

    init(_ name: String, _ wire: String, _ kind: RESPDecodingError.Kind, limits: RESPDecoderLimits = .default) {
        self.name = name
        self.wire = Array(wire.utf8)
        self.kind = kind
        self.limits = limits
    }

    var testDescription: String { name }
}

@Suite("RESP decoding of malformed and hostile input")
struct RESPMalformedInputTests {
    static let vectors: [MalformedVector] = [
        MalformedVector("unknown type byte", "@foo\r\n", .invalidTypeByte),
        MalformedVector("bare CR LF", "\r\n", .invalidTypeByte),
        MalformedVector("inline command text", "PING\r\n", .invalidTypeByte),
        MalformedVector("bad type byte inside an array", "*2\r\n:1\r\n?x\r\n", .invalidTypeByte),
        MalformedVector("bulk length -2", "$-2\r\n", .invalidLength),
        MalformedVector("array length -5", "*-5\r\n", .invalidLength),
        MalformedVector("map length -1", "%-1\r\n", .invalidLength),
        MalformedVector("set length -1", "~-1\r\n", .invalidLength),
        MalformedVector("push length -1", ">-1\r\n", .invalidLength),
        MalformedVector("blob error length -1", "!-1\r\n", .invalidLength),
        MalformedVector("bulk length -0", "$-0\r\n", .invalidLength),
        MalformedVector("non-digit bulk length", "$abc\r\n", .invalidLength),
        MalformedVector("empty bulk length", "$\r\n", .invalidLength),
        MalformedVector("plus-signed length", "$+3\r\nabc\r\n", .invalidLength),
        MalformedVector("trailing junk in array length", "*1x\r\n", .invalidLength),
        MalformedVector("non-digit integer", ":12a\r\n", .invalidInteger),
        MalformedVector("empty integer", ":\r\n", .invalidInteger),
        MalformedVector("sign-only integer", ":-\r\n", .invalidInteger),
        MalformedVector("integer above Int64.max", ":9223372036854775808\r\n", .invalidInteger),
        MalformedVector("integer below Int64.min", ":-9223372036854775809\r\n", .invalidInteger),
        MalformedVector("20-digit integer", ":99999999999999999999\r\n", .invalidInteger),
        MalformedVector("CR not followed by LF", "+OK\rX\r\n", .missingCRLF),
        MalformedVector("LF without CR", "+OK\n", .missingCRLF),
        MalformedVector("bulk payload not followed by CR LF", "$3\r\nfooXY", .missingCRLF),
        MalformedVector("bulk payload followed by CR only", "$3\r\nfoo\rX", .missingCRLF),
        MalformedVector("bulk payload longer than declared", "$2\r\nabc\r\n", .missingCRLF),
        MalformedVector("letters as double", ",abc\r\n", .invalidDouble),
        MalformedVector("empty double", ",\r\n", .invalidDouble),
        MalformedVector("double with two points", ",1.2.3\r\n", .invalidDouble),
        MalformedVector("hexadecimal double", ",0x10\r\n", .invalidDouble),
        MalformedVector("boolean x", "#x\r\n", .invalidBoolean),
        MalformedVector("empty boolean", "#\r\n", .invalidBoolean),
        MalformedVector("boolean tt", "#tt\r\n", .invalidBoolean),
        MalformedVector("null with content", "_x\r\n", .invalidNull),
        MalformedVector("big number with letter", "(12a\r\n", .invalidBigNumber),
        MalformedVector("empty big number", "(\r\n", .invalidBigNumber),
        MalformedVector("verbatim string too short", "=3\r\ntxt\r\n", .invalidVerbatimString),
        MalformedVector("verbatim string without colon", "=5\r\ntxt-a\r\n", .invalidVerbatimString),
        MalformedVector("huge bulk length", "$99999999999\r\n", .bulkTooLong),
        MalformedVector("bulk length beyond 64 bits", "$99999999999999999999999999999\r\n", .bulkTooLong),
        MalformedVector("huge blob error length", "!99999999999\r\n", .bulkTooLong),
        MalformedVector("huge array count", "*99999999999\r\n", .tooManyElements),
        MalformedVector("huge map count", "%9999999999999999999\r\n", .tooManyElements),
        MalformedVector("huge attribute count", "|99999999999\r\n", .tooManyElements),
        MalformedVector("depth bomb of arrays", String(repeating: "*1\r\n", count: 33) + ":1\r\n", .nestingTooDeep),
        MalformedVector("depth bomb of 10,000 arrays", String(repeating: "*1\r\n", count: 10_000), .nestingTooDeep),
        MalformedVector("chain of attributes", String(repeating: "|0\r\n", count: 40) + "+OK\r\n", .nestingTooDeep),
        MalformedVector(
            "mixed-aggregate depth bomb", String(repeating: "%1\r\n+k\r\n>1\r\n", count: 17), .nestingTooDeep
        ),
        MalformedVector("line without end", "+" + String(repeating: "a", count: 70_000), .lineTooLong),
        MalformedVector(
            "bulk over a custom limit", "$11\r\nhello world\r\n", .bulkTooLong, limits: RESPDecoderLimits(maxBulkLength: 10)
        ),
        MalformedVector(
            "array over a custom count limit", "*4\r\n:1\r\n:2\r\n:3\r\n:4\r\n", .tooManyElements,
            limits: RESPDecoderLimits(maxAggregateCount: 3)
        ),
        MalformedVector(
            "map over a custom count limit", "%4\r\n", .tooManyElements, limits: RESPDecoderLimits(maxAggregateCount: 3)
        ),
        MalformedVector(
            "nesting over a custom depth limit", "*1\r\n*1\r\n*1\r\n:1\r\n", .nestingTooDeep,
            limits: RESPDecoderLimits(maxDepth: 2)
        ),
        MalformedVector(
            "line over a custom length limit", "+abcdefghijk\r\n", .lineTooLong, limits: RESPDecoderLimits(maxLineLength: 10)
        ),
    ]

    @Test("Malformed input throws the matching error, however it is cut",
          arguments: vectors, [Chunking.whole, .byteByByte])
    func malformed(vector: MalformedVector, chunking: Chunking) {
        for chunks in chunking.cuts(of: vector.wire) {
            #expect {
                _ = try decodeChunks(chunks, limits: vector.limits)
            } throws: { error in
                (error as? RESPDecodingError)?.kind == vector.kind
            }
        }
    }

    @Test("A huge declared bulk length is refused from its header alone, before any payload")
    func hugeLengthRefusedEarly() {
        var parser = RESPParser()
        var buffer = ByteBuffer(string: "$536870912\r\n")  // 512 MiB, Redis' own maximum
        #expect(throws: RESPDecodingError.self) { try parser.next(from: &buffer) }
        var small = RESPParser(limits: RESPDecoderLimits(maxBulkLength: 1024))
        var header = ByteBuffer(string: "*1\r\n$1025\r\n")
        #expect {
            try small.next(from: &header)
        } throws: { ($0 as? RESPDecodingError)?.kind == .bulkTooLong }
    }

    @Test("A line within the length limit still waits for its end rather than failing")
    func longLineWithinLimitWaits() throws {
        var parser = RESPParser(limits: RESPDecoderLimits(maxLineLength: 10))
        var buffer = ByteBuffer(string: "+abcdefghij")
        #expect(try parser.next(from: &buffer) == nil)
        buffer.writeString("\r\n")
        #expect(try parser.next(from: &buffer) == simple("abcdefghij"))
    }

    @Test("After an error the parser stays failed")
    func staysFailed() {
        var parser = RESPParser()
        var buffer = ByteBuffer(string: "@\r\n")
        #expect(throws: RESPDecodingError.self) { try parser.next(from: &buffer) }
        var good = ByteBuffer(string: "+OK\r\n")
        #expect {
            try parser.next(from: &good)
        } throws: { ($0 as? RESPDecodingError)?.kind == .invalidTypeByte }
    }
}
