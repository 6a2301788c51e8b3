import HeraldRedis
import NIOCore

/// Feeds chunks to a parser the way NIO's ByteToMessageHandler does: append each chunk to
/// one accumulating buffer, then take out every value that is complete.
func decodeChunks(_ chunks: [[UInt8]], limits: RESPDecoderLimits = .default) throws(RESPDecodingError)
    -> (values: [RESPValue], leftoverBytes: Int)
{
    var parser = RESPParser(limits: limits)
    var buffer = ByteBuffer()
    var values: [RESPValue] = []
    for chunk in chunks {
        buffer.writeBytes(chunk)
        while let value = try parser.next(from: &buffer) {
            values.append(value)
        }
    }
    return (values, buffer.readableBytes)
}

/// The ways tests cut one input: whole, in two at every position, and one byte at a time.
enum Chunking: String, CaseIterable, Sendable {
    case whole, everySplit, byteByByte

    func cuts(of bytes: [UInt8]) -> [[[UInt8]]] {
        switch self {
        case .whole:
            return [[bytes]]
        case .everySplit:
            return (1..<max(bytes.count, 2)).map { [Array(bytes[..<min($0, bytes.count)]), Array(bytes[min($0, bytes.count)...])] }
        case .byteByByte:
            return [bytes.map { [$0] }]
        }
    }
}

func bulk(_ text: String) -> RESPValue { .bulkString(ByteBuffer(string: text)) }
func simple(_ text: String) -> RESPValue { .simpleString(text) }
func entry(_ key: RESPValue, _ value: RESPValue) -> RESPMapEntry { RESPMapEntry(key: key, value: value) }
