import HeraldHTTP
import Testing

/// Form and query decoding: `+`, `%XX`, empty segments, repeated names, strict errors.
@Suite struct FormFieldsTests {
    private func pairs(_ text: String) throws -> [String] {
        try FormFields(decoding: Array(text.utf8)).fields.map { "\($0.name)=\($0.value)" }
    }

    @Test func splitsDecodesAndKeepsOrder() throws {
        #expect(try pairs("topic=a&topic=b&data=x+y%20z") == ["topic=a", "topic=b", "data=x y z"])
        #expect(try pairs("a=1=2&&b&=&c=") == ["a=1=2", "b=", "=", "c="])
        #expect(try pairs("") == [])
        #expect(try pairs("%C3%A9t%C3%A9=caf%c3%a9") == ["été=café"])
        #expect(try pairs("data=%26%3D%25") == ["data=&=%"])
    }

    @Test func aByteBufferViewDecodesLikeAnArray() throws {
        let text = "topic=t&data=" + String(repeating: "%41b+", count: 200)
        let view = ByteBufferViewSource.view(text)
        #expect(try FormFields(decoding: view) == FormFields(decoding: Array(text.utf8)))
        #expect(try FormFields(decoding: view).single("data") == String(repeating: "Ab ", count: 200))
    }

    /// Why decoding failed; nil when it did not.
    private func failure(_ bytes: [UInt8]) -> String? {
        do {
            _ = try FormFields(decoding: bytes)
            return nil
        } catch {
            return error.reason
        }
    }

    @Test(arguments: ["data=%", "data=%4", "data=%4&x=1", "data=%G1", "%zz=1"])
    func malformedEscapesAreErrors(text: String) {
        #expect(failure(Array(text.utf8)) == "malformed percent-encoding in form")
    }

    @Test(arguments: ["data=%FF", "data=%C3", "%80=x"])
    func invalidUTF8IsAnError(text: String) {
        #expect(failure(Array(text.utf8)) == "form field is not valid UTF-8")
        // Raw (unescaped) invalid bytes too.
        #expect(failure([0x61, 0x3D, 0xFF]) == "form field is not valid UTF-8")
    }

    @Test func singleRefusesRepeats() throws {
        let form = try FormFields(decoding: Array("id=1&id=2".utf8))
        #expect(throws: FormFields.DecodingError.self) { try form.single("id") }
        #expect(try form.single("missing") == nil)
    }
}

import NIOCore

/// A `ByteBufferView`, the contiguous collection publishes are decoded from.
private enum ByteBufferViewSource {
    static func view(_ text: String) -> ByteBufferView { ByteBuffer(string: text).readableBytesView }
}
