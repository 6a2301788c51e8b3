import ServerSentEvents
import Testing

/// The parser must give the same result however the stream is cut into chunks.
@Suite("Parser chunking")
struct ServerSentEventParserChunkingTests {
    @Test("every two-piece split matches feeding whole", arguments: parserVectors)
    func everySplit(_ vector: ParserVector) throws {
        let whole = try parse(vector.input)
        #expect(whole == vector.expectedOutcome)
        for cut in 0...vector.input.count {
            let pieces = [Array(vector.input[..<cut]), Array(vector.input[cut...])]
            let split = try parse(chunks: pieces)
            #expect(split == whole, "split at byte \(cut)")
        }
    }

    @Test("byte-by-byte matches feeding whole", arguments: parserVectors)
    func byteByByte(_ vector: ParserVector) throws {
        let whole = try parse(vector.input)
        let bytes = try parse(chunks: vector.input.map { [$0] })
        #expect(bytes == whole)
        #expect(bytes == vector.expectedOutcome)
    }

    @Test("every three-piece split matches feeding whole", arguments: parserVectors.filter { $0.input.count <= 48 })
    func everyThreeWaySplit(_ vector: ParserVector) throws {
        let whole = try parse(vector.input)
        let input = vector.input
        for first in 0...input.count {
            for second in first...input.count {
                let pieces = [Array(input[..<first]), Array(input[first..<second]), Array(input[second...])]
                let split = try parse(chunks: pieces)
                #expect(split == whole, "split at bytes \(first) and \(second)")
            }
        }
    }
}
