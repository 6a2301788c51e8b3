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
}
