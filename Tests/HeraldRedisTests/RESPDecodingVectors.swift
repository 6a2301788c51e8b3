import HeraldRedis
import NIOCore
import Testing

/// One well-formed input and the value it must decode to.
struct DecodingVector: Sendable, CustomTestStringConvertible {
    let name: String
    let wire: [UInt8]
    let expected: RESPValue

    init(_ name: String, _ wire: String, _ expected: RESPValue) {
        self.name = name
        self.wire = Array(wire.utf8)
        self.expected = expected
    }

    var testDescription: String { name }
}

enum DecodingVectors {
    static let resp2: [DecodingVector] = [
        DecodingVector("simple string", "+OK\r\n", simple("OK")),
        DecodingVector("empty simple string", "+\r\n", simple("")),
        DecodingVector("simple error", "-ERR unknown command 'foo'\r\n", .simpleError("ERR unknown command 'foo'")),
        DecodingVector("zero", ":0\r\n", .integer(0)),
        DecodingVector("negative integer", ":-42\r\n", .integer(-42)),
        DecodingVector("plus-signed integer", ":+7\r\n", .integer(7)),
        DecodingVector("Int64.max", ":9223372036854775807\r\n", .integer(.max)),
        DecodingVector("Int64.min", ":-9223372036854775808\r\n", .integer(.min)),
        DecodingVector("bulk string", "$5\r\nhello\r\n", bulk("hello")),
        DecodingVector("empty bulk string", "$0\r\n\r\n", bulk("")),
        DecodingVector("bulk with CR LF inside", "$4\r\na\r\nb\r\n", bulk("a\r\nb")),
        DecodingVector("null bulk string", "$-1\r\n", .bulkString(nil)),
        DecodingVector("empty array", "*0\r\n", .array([])),
        DecodingVector("null array", "*-1\r\n", .array(nil)),
        DecodingVector(
            "mixed array", "*3\r\n:1\r\n$3\r\nfoo\r\n+bar\r\n", .array([.integer(1), bulk("foo"), simple("bar")])
        ),
        DecodingVector("nested arrays", "*2\r\n*1\r\n:1\r\n*0\r\n", .array([.array([.integer(1)]), .array([])])),
        DecodingVector("array with null element", "*2\r\n$-1\r\n:5\r\n", .array([.bulkString(nil), .integer(5)])),
        DecodingVector(
            "RESP2 pub/sub message", "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n",
            .array([bulk("message"), bulk("news"), bulk("hi")])
        ),
    ]

    static let resp3: [DecodingVector] = [
        DecodingVector("null", "_\r\n", .null),
        DecodingVector("double", ",3.14\r\n", .double(3.14)),
        DecodingVector("double with exponent", ",-1.5e3\r\n", .double(-1500)),
        DecodingVector("integral double", ",10\r\n", .double(10)),
        DecodingVector("infinity", ",inf\r\n", .double(.infinity)),
        DecodingVector("negative infinity", ",-inf\r\n", .double(-.infinity)),
        DecodingVector("true", "#t\r\n", .boolean(true)),
        DecodingVector("false", "#f\r\n", .boolean(false)),
        DecodingVector(
            "big number", "(3492890328409238509324850943850943825024385\r\n",
            .bigNumber("3492890328409238509324850943850943825024385")
        ),
        DecodingVector("negative big number", "(-12\r\n", .bigNumber("-12")),
        DecodingVector("blob error", "!21\r\nSYNTAX invalid syntax\r\n", .blobError("SYNTAX invalid syntax")),
        DecodingVector("blob error with newline", "!8\r\nERR a\r\nb\r\n", .blobError("ERR a\r\nb")),
        DecodingVector(
            "verbatim string", "=15\r\ntxt:Some string\r\n",
            .verbatimString(format: "txt", ByteBuffer(string: "Some string"))
        ),
        DecodingVector("empty verbatim string", "=4\r\nmkd:\r\n", .verbatimString(format: "mkd", ByteBuffer())),
        DecodingVector(
            "map", "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
            .map([entry(simple("first"), .integer(1)), entry(simple("second"), .integer(2))])
        ),
        DecodingVector("empty map", "%0\r\n", .map([])),
        DecodingVector("set", "~3\r\n+a\r\n+b\r\n+a\r\n", .set([simple("a"), simple("b"), simple("a")])),
        DecodingVector("empty set", "~0\r\n", .set([])),
        DecodingVector(
            "push", ">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n",
            .push([bulk("message"), bulk("news"), bulk("hello")])
        ),
        DecodingVector("empty push", ">0\r\n", .push([])),
        DecodingVector(
            "attribute on an array",
            "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n",
            .attribute(
                [
                    entry(
                        simple("key-popularity"),
                        .map([entry(bulk("a"), .double(0.1923)), entry(bulk("b"), .double(0.0012))])
                    )
                ],
                .array([.integer(2_039_123), .integer(9_543_892)])
            )
        ),
        DecodingVector("empty attribute", "|0\r\n+OK\r\n", .attribute([], simple("OK"))),
        DecodingVector(
            "attribute inside an array", "*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n",
            .array([.attribute([entry(simple("a"), simple("b"))], .integer(1)), .integer(2)])
        ),
        DecodingVector(
            "nested RESP3 aggregates", "*2\r\n%1\r\n+k\r\n~1\r\n#t\r\n>1\r\n_\r\n",
            .array([.map([entry(simple("k"), .set([.boolean(true)]))]), .push([.null])])
        ),
    ]

    static let all = resp2 + resp3
}
