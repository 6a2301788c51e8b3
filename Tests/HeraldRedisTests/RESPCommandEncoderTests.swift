import HeraldRedis
import NIOCore
import Testing

@Suite("RESP command encoding")
struct RESPCommandEncoderTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        let arguments: [String]
        let wire: String
        var testDescription: String { arguments.description }
    }

    static let vectors: [Vector] = [
        Vector(arguments: ["PING"], wire: "*1\r\n$4\r\nPING\r\n"),
        Vector(arguments: ["SET", "k", "v"], wire: "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"),
        Vector(arguments: ["SET", "k", ""], wire: "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"),
        Vector(arguments: ["ECHO", "é"], wire: "*2\r\n$4\r\nECHO\r\n$2\r\né\r\n"),
        Vector(arguments: ["ECHO", "a\r\nb"], wire: "*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n"),
        Vector(arguments: [], wire: "*0\r\n"),
        Vector(
            arguments: ["HELLO", "3", "AUTH", "default", "p@ss"],
            wire: "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$4\r\np@ss\r\n"
        ),
    ]

    @Test("String arguments encode as an array of bulk strings", arguments: vectors)
    func strings(vector: Vector) {
        #expect(RESPCommandEncoder.encode(vector.arguments) == ByteBuffer(string: vector.wire))
    }

    @Test("ByteBuffer arguments encode the same as their string form", arguments: vectors)
    func buffers(vector: Vector) {
        let encoded = RESPCommandEncoder.encode(vector.arguments.map { ByteBuffer(string: $0) })
        #expect(encoded == ByteBuffer(string: vector.wire))
    }

    @Test("Binary arguments keep every byte, and the parser reads the command back")
    func binaryRoundTrip() throws {
        let payload = ByteBuffer(bytes: (0...255).map { UInt8($0) })
        var buffer = ByteBuffer(string: "prefix")
        RESPCommandEncoder.encode([ByteBuffer(string: "SET"), ByteBuffer(string: "key"), payload], into: &buffer)
        #expect(buffer.readString(length: 6) == "prefix")
        var parser = RESPParser()
        let value = try parser.next(from: &buffer)
        #expect(value == .array([bulk("SET"), bulk("key"), .bulkString(payload)]))
        #expect(buffer.readableBytes == 0)
    }
}
