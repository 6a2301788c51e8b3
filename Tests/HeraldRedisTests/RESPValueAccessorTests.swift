import HeraldRedis
import NIOCore
import Testing

@Suite("RESPValue accessors")
struct RESPValueAccessorTests {
    @Test("Text and numbers read through every string-like type")
    func scalars() {
        #expect(simple("OK").string == "OK")
        #expect(bulk("42").int == 42)
        #expect(RESPValue.integer(7).string == "7")
        #expect(RESPValue.bigNumber("123").int == 123)
        #expect(RESPValue.verbatimString(format: "txt", ByteBuffer(string: "hi")).string == "hi")
        #expect(RESPValue.double(1.5).double == 1.5)
        #expect(bulk("2.5").double == 2.5)
        #expect(RESPValue.boolean(true).bool == true)
        #expect(RESPValue.integer(0).bool == false)
        #expect(RESPValue.null.string == nil)
        #expect(bulk("x").int == nil)
    }

    @Test("Nulls and errors are recognized in all their forms")
    func nullsAndErrors() {
        #expect(RESPValue.null.isNull)
        #expect(RESPValue.bulkString(nil).isNull)
        #expect(RESPValue.array(nil).isNull)
        #expect(!bulk("").isNull)
        #expect(RESPValue.simpleError("ERR x").errorMessage == "ERR x")
        #expect(RESPValue.blobError("ERR y").isError)
        #expect(!simple("ERR").isError)
    }

    @Test("Maps read the same from RESP3 maps and RESP2 flat arrays")
    func maps() {
        let resp3 = RESPValue.map([entry(simple("proto"), .integer(3))])
        let resp2 = RESPValue.array([bulk("proto"), .integer(2)])
        #expect(resp3["proto"]?.int == 3)
        #expect(resp2["proto"]?.int == 2)
        #expect(RESPValue.array([bulk("odd")]).mapEntries == nil)
        #expect(resp3["missing"] == nil)
    }

    @Test("Attributes are looked through by the accessors")
    func attributes() {
        let value = RESPValue.attribute([entry(simple("ttl"), .integer(3))], bulk("v"))
        #expect(value.string == "v")
        #expect(value.withoutAttributes == bulk("v"))
        #expect(RESPValue.attribute([], .set([.integer(1)])).array == [.integer(1)])
    }
}
