#if Fuzzing
import HeraldHub

/// The URI template parser and matcher (`URITemplate`, `TopicSelector`).
///
/// Input: a template (up to a 0 byte), a topic (up to the next 0 byte), then variable values.
/// Properties (and no crash; libFuzzer's `-timeout` bounds the time per input):
/// - `matches` agrees with `match` on the topic, and a selector matches its own text;
/// - differential against RFC 6570 expansion: the template expanded (by the independent expander
///   below) with values from the input (undefined, strings, lists, associative arrays; arbitrary
///   UTF-8, so escaping is exercised) is matched by the template.
enum URITemplateFuzz {
    @Sendable static func run(_ data: [UInt8]) {
        var input = FuzzInput(data)
        let text = String(decoding: input.field(), as: UTF8.self)
        let topic = String(decoding: input.field(), as: UTF8.self)

        if let selector = try? TopicSelector(text) {
            require(selector.matches(text), "selector \(text.debugDescription) does not match itself")
            _ = selector.matches(topic)
        }
        guard text.utf8.count <= TopicSelector.maximumLength, let template = try? URITemplate(text) else { return }
        require(template.matches(topic) == (template.match(topic) != nil), "matches and match disagree: \(text.debugDescription) on \(topic.debugDescription)")

        var values: [String: Value] = [:]
        for name in template.variableNames { values[name] = Value.read(from: &input) }
        guard let expansion = expand(text, values) else { return }
        require(template.matches(expansion), "\(text.debugDescription) with \(values) expands to \(expansion.debugDescription), which it does not match")
        require(template.match(expansion) != nil, "match refuses the expansion \(expansion.debugDescription) of \(text.debugDescription)")
    }

    enum Value: CustomStringConvertible {
        case string(String)
        case list([String])
        case pairs([(String, String)])

        static func read(from input: inout FuzzInput) -> Value? {
            let kind = input.byte()
            let count = Int(kind >> 2 & 3) + 1
            func item() -> String { String(decoding: input.field(), as: UTF8.self) }
            switch kind & 3 {
            case 0: return nil
            case 1: return .string(item())
            case 2: return .list((0..<count).map { _ in item() })
            default:
                // RFC 6570 gives an empty key no form of its own (`{;m*}` would write a bare ";").
                return .pairs((0..<count).map { _ in (item().nonEmpty ?? "k", item()) })
            }
        }

        var description: String {
            switch self {
            case .string(let text): text.debugDescription
            case .list(let items): "\(items)"
            case .pairs(let pairs): "\(pairs)"
            }
        }
    }

    /// RFC 6570 section 3.2 expansion of a template `URITemplate` accepted; nil when the values
    /// do not fit the template (a list for a prefix variable, which RFC 6570 leaves undefined).
    static func expand(_ template: String, _ values: [String: Value]) -> String? {
        var out: [UInt8] = []
        let bytes = Array(template.utf8)
        var index = 0
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: "{") else {
                out.append(bytes[index])
                index += 1
                continue
            }
            let close = bytes[index...].firstIndex(of: UInt8(ascii: "}"))!
            var body = bytes[(index + 1)..<close]
            index = close + 1
            var op: UInt8 = 0
            if let first = body.first, "+#./;?&".utf8.contains(first) {
                op = first
                body = body.dropFirst()
            }
            let named = op == UInt8(ascii: ";") || op == UInt8(ascii: "?") || op == UInt8(ascii: "&")
            let reserved = op == UInt8(ascii: "+") || op == UInt8(ascii: "#")
            let separator: [UInt8] =
                switch op {
                case 0, UInt8(ascii: "+"), UInt8(ascii: "#"): Array(",".utf8)
                default: [op == UInt8(ascii: "?") ? UInt8(ascii: "&") : op]
                }
            let ifEmpty: [UInt8] = op == UInt8(ascii: ";") ? [] : Array("=".utf8)
            var first = true
            for spec in body.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                var nameBytes = spec[...]
                var explode = false
                var prefix: Int?
                if nameBytes.last == UInt8(ascii: "*") {
                    explode = true
                    nameBytes = nameBytes.dropLast()
                } else if let colon = nameBytes.firstIndex(of: UInt8(ascii: ":")) {
                    prefix = Int(String(decoding: nameBytes[(colon + 1)...], as: UTF8.self))
                    nameBytes = nameBytes[..<colon]
                }
                let name = Array(nameBytes)
                guard let value = values[String(decoding: name, as: UTF8.self)] else { continue }
                switch value {
                case .list(let items) where items.isEmpty: continue
                case .pairs(let pairs) where pairs.isEmpty: continue
                case .list, .pairs: if prefix != nil { return nil }
                case .string: break
                }
                if first {
                    if op != 0, op != UInt8(ascii: "+") { out.append(op) }
                    first = false
                } else {
                    out += separator
                }
                func encode(_ text: String) -> [UInt8] { percentEncode(text, allowReserved: reserved) }
                switch value {
                case .string(var text):
                    if let prefix { text = String(String.UnicodeScalarView(text.unicodeScalars.prefix(prefix))) }
                    if named {
                        out += name
                        out += text.isEmpty ? ifEmpty : Array("=".utf8)
                    }
                    out += encode(text)
                case .list(let items):
                    if !explode {
                        if named { out += name + Array("=".utf8) }
                        out += joined(items.map(encode), Array(",".utf8))
                    } else {
                        out += joined(
                            items.map { item in named ? name + (item.isEmpty ? ifEmpty : Array("=".utf8) + encode(item)) : encode(item) },
                            separator
                        )
                    }
                case .pairs(let pairs):
                    if !explode {
                        if named { out += name + Array("=".utf8) }
                        out += joined(pairs.flatMap { [encode($0.0), encode($0.1)] }, Array(",".utf8))
                    } else {
                        out += joined(
                            pairs.map { key, item in
                                encode(key) + (named && item.isEmpty ? ifEmpty : Array("=".utf8) + encode(item))
                            },
                            separator
                        )
                    }
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func joined(_ parts: [[UInt8]], _ separator: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for (index, part) in parts.enumerated() {
            if index > 0 { out += separator }
            out += part
        }
        return out
    }

    /// RFC 6570 encoding: unreserved characters as they are, with `allowReserved` also reserved
    /// characters and pct-encoded triplets; every other byte of the UTF-8 pct-encoded.
    static func percentEncode(_ text: String, allowReserved: Bool) -> [UInt8] {
        let bytes = Array(text.utf8)
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            let unreserved =
                (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
                || "-._~".utf8.contains(byte)
            let isReserved = ":/?#[]@!$&'()*+,;=".utf8.contains(byte)
            if unreserved || (allowReserved && isReserved) {
                out.append(byte)
            } else if allowReserved, byte == UInt8(ascii: "%"), index + 2 < bytes.count,
                isHex(bytes[index + 1]), isHex(bytes[index + 2])
            {
                out += bytes[index...(index + 2)]
                index += 2
            } else {
                out += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 15)]]
            }
            index += 1
        }
        return out
    }

    private static func isHex(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66)
    }
}
extension String {
    fileprivate var nonEmpty: String? { isEmpty ? nil : self }
}
#endif
