#if Fuzzing
import HeraldHTTP

/// The strict `application/x-www-form-urlencoded` decoder (`FormFields`) and `percentDecode`.
///
/// Properties: contiguous and non-contiguous input decode alike; decoded fields, encoded again
/// (every byte but unreserved ones escaped, spaces as `+` or `%20`), decode to the same fields;
/// `percentDecode` inverts percent-encoding; `single` agrees with `values`.
enum FormFuzz {
    @Sendable static func run(_ data: [UInt8]) {
        var input = FuzzInput(data)
        let mode = input.byte()
        let body = Array(input.rest())

        let contiguous = Result { () throws(FormFields.DecodingError) in try FormFields(decoding: body) }
        let generic = Result { () throws(FormFields.DecodingError) in try FormFields(decoding: body.lazy.map { $0 }) }
        require(contiguous == generic, "contiguous and generic input decode differently: \(hex(body))")

        if case .success(let form) = contiguous {
            let encoded = encode(form.fields, spaceAsPlus: mode & 1 == 0)
            let again = Result { () throws(FormFields.DecodingError) in try FormFields(decoding: encoded) }
            require(again == .success(form), "fields of \(hex(body)) encode as \(String(decoding: encoded, as: UTF8.self)) and decode as \(again)")
            for name in Set(form.fields.map(\.name)) {
                let values = form.values(name)
                switch Result(catching: { () throws(FormFields.DecodingError) in try form.single(name) }) {
                case .success(let single): require(values.count == 1 && single == values[0], "single disagrees with values for \(name)")
                case .failure: require(values.count > 1, "single refused a field given once: \(name)")
                }
            }
        }

        let text = String(decoding: body, as: UTF8.self)
        let escaped = String(decoding: percentEncode(Array(text.utf8), spaceAsPlus: false), as: UTF8.self)
        let decoded = Result { () throws(FormFields.DecodingError) in try FormFields.percentDecode(escaped) }
        require(decoded == .success(text), "percentDecode(\(escaped)) is \(decoded), not the text")
        _ = try? FormFields.percentDecode(text)
    }

    private static func encode(_ fields: [(name: String, value: String)], spaceAsPlus: Bool) -> [UInt8] {
        var out: [UInt8] = []
        for (index, field) in fields.enumerated() {
            if index > 0 { out.append(UInt8(ascii: "&")) }
            out += percentEncode(Array(field.name.utf8), spaceAsPlus: spaceAsPlus)
            out.append(UInt8(ascii: "="))
            out += percentEncode(Array(field.value.utf8), spaceAsPlus: spaceAsPlus)
        }
        return out
    }

    private static func percentEncode(_ bytes: [UInt8], spaceAsPlus: Bool) -> [UInt8] {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(byte)
            case UInt8(ascii: " ") where spaceAsPlus:
                out.append(UInt8(ascii: "+"))
            default:
                out += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 15)]]
            }
        }
        return out
    }
}
#endif
