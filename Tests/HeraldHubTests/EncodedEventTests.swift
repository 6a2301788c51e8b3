import HeraldHub
import NIOCore
import Testing

@Suite struct EncodedEventTests {
    @Test func chunkFramesTheBytesWithTheirHexLength() {
        let short = EncodedEvent(ByteBuffer(string: "data: hello\n\n"))
        #expect(String(buffer: short.chunk) == "d\r\ndata: hello\n\n\r\n")
        #expect(String(buffer: short.bytes) == "data: hello\n\n")

        let text = "data: " + String(repeating: "y", count: 294) + "\n\n"  // 302 bytes = 0x12e
        let long = EncodedEvent(ByteBuffer(string: text))
        #expect(String(buffer: long.chunk) == "12e\r\n" + text + "\r\n")
        #expect(String(buffer: long.bytes) == text)
    }

    @Test(arguments: [8, 15, 16, 255, 256, 302, 4096, 65_535, 65_536, 70_000])
    func encodingInPlaceFramesLikeCopying(size: Int) throws {
        let text = "data: " + String(repeating: "z", count: size - 8) + "\n\n"
        let inPlace = EncodedEvent { (buffer: inout ByteBuffer) in buffer.writeString(text) }
        let copied = EncodedEvent(ByteBuffer(string: text))
        #expect(inPlace.chunk == copied.chunk)
        #expect(inPlace.bytes == copied.bytes)
        #expect(String(buffer: inPlace.chunk).hasPrefix(String(size, radix: 16) + "\r\n"))
    }

    @Test func encodingInPlacePassesTheEncodersErrorOn() {
        struct Refused: Error {}
        #expect(throws: Refused.self) {
            _ = try EncodedEvent { (_: inout ByteBuffer) throws(Refused) in throw Refused() }
        }
    }
}
