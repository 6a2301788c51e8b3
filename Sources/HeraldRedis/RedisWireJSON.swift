import HeraldHub

/// The fields of one update as it travels through Redis (`RedisUpdateCodec`): compact JSON
/// `{"t":[topics],"d":data,"i":id,"y":type,"r":retry,"p":true}`, absent fields left out.
///
/// Every node writes and reads it once per update, so it is written and read here by hand: the
/// Foundation `JSONEncoder`/`JSONDecoder` pair cost about a sixth of a Redis node's CPU per
/// publish (a `Data` copy, a `Codable` tree and generic metadata lookups for each update).
/// The reader handles the shape Herald writes, any whitespace and key order, and every JSON
/// string escape; whatever else it meets (unknown keys, numbers with a fraction, repeated
/// keys, invalid UTF-8) it declines with nil, and the caller asks `JSONDecoder`, which stays
/// the one judge of what the wire may hold. The writer's output is plain JSON, so nodes that
/// still decode with `JSONDecoder` read it unchanged.
package struct RedisWireUpdate: Codable, Hashable, Sendable {
    package var t: [String]
    package var d: String
    package var i: String?
    package var y: String?
    package var r: Int?
    package var p: Bool?

    package init(t: [String], d: String, i: String? = nil, y: String? = nil, r: Int? = nil, p: Bool? = nil) {
        self.t = t
        self.d = d
        self.i = i
        self.y = y
        self.r = r
        self.p = p
    }

    /// The compact JSON of these fields (fields that are nil are left out).
    package var json: String {
        var out: [UInt8] = []
        out.reserveCapacity(d.utf8.count + t.reduce(0) { $0 + $1.utf8.count } + 48)
        out.append(contentsOf: #"{"t":["#.utf8)
        for (index, topic) in t.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            Self.appendString(topic, to: &out)
        }
        out.append(contentsOf: #"],"d":"#.utf8)
        Self.appendString(d, to: &out)
        if let i {
            out.append(contentsOf: #","i":"#.utf8)
            Self.appendString(i, to: &out)
        }
        if let y {
            out.append(contentsOf: #","y":"#.utf8)
            Self.appendString(y, to: &out)
        }
        if let r {
            out.append(contentsOf: #","r":"#.utf8)
            out.append(contentsOf: String(r).utf8)
        }
        if let p {
            out.append(contentsOf: (p ? #","p":true"# : #","p":false"#).utf8)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `string` as a JSON string: quotes, backslashes and control characters escaped,
    /// everything else (all of Unicode) as its UTF-8 bytes.
    private static func appendString(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        let utf8 = string.utf8
        if !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out.append(contentsOf: utf8)
        } else {
            for byte in utf8 {
                switch byte {
                case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
                case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
                case UInt8(ascii: "\n"): out.append(contentsOf: #"\n"#.utf8)
                case UInt8(ascii: "\r"): out.append(contentsOf: #"\r"#.utf8)
                case UInt8(ascii: "\t"): out.append(contentsOf: #"\t"#.utf8)
                case 0..<0x20:
                    out.append(contentsOf: #"\u00"#.utf8)
                    out.append(hexDigit(byte >> 4))
                    out.append(hexDigit(byte & 0xF))
                default: out.append(byte)
                }
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }

    /// Reads the fields from `bytes` by hand; nil when they hold anything but the plain shape
    /// described on the type (the caller then asks `JSONDecoder`).
    package static func parse(_ bytes: some Collection<UInt8>) -> RedisWireUpdate? {
        let parsed = bytes.withContiguousStorageIfAvailable { buffer in
            var reader = WireJSONReader(bytes: UnsafeRawBufferPointer(buffer))
            return reader.readUpdate()
        }
        if let parsed { return parsed }
        return Array(bytes).withUnsafeBytes { buffer in
            var reader = WireJSONReader(bytes: buffer)
            return reader.readUpdate()
        }
    }
}

/// A forward-only reader of the wire update's JSON (see `RedisWireUpdate.parse`).
private struct WireJSONReader {
    let bytes: UnsafeRawBufferPointer
    var index = 0

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    mutating func readUpdate() -> RedisWireUpdate? {
        var topics: [String]?
        var data: String?
        var id: String??
        var type: String??
        var retry: Int??
        var isPrivate: Bool??
        guard take(UInt8(ascii: "{")) else { return nil }
        if !take(UInt8(ascii: "}")) {
            repeat {
                guard let key = readString(), take(UInt8(ascii: ":")) else { return nil }
                switch key {
                case "t" where topics == nil: topics = readStrings()
                case "d" where data == nil: data = readString()
                case "i" where id == nil: id = readOptional { $0.readString() }
                case "y" where type == nil: type = readOptional { $0.readString() }
                case "r" where retry == nil: retry = readOptional { $0.readInteger() }
                case "p" where isPrivate == nil: isPrivate = readOptional { $0.readBool() }
                default: return nil  // unknown or repeated key
                }
                // A field that failed to read leaves its variable nil (or .some(nil) never set).
                switch key {
                case "t": guard topics != nil else { return nil }
                case "d": guard data != nil else { return nil }
                case "i": guard id != nil else { return nil }
                case "y": guard type != nil else { return nil }
                case "r": guard retry != nil else { return nil }
                default: guard isPrivate != nil else { return nil }
                }
            } while take(UInt8(ascii: ","))
            guard take(UInt8(ascii: "}")) else { return nil }
        }
        skipSpace()
        guard index == bytes.count, let topics, let data else { return nil }
        return RedisWireUpdate(t: topics, d: data, i: id ?? nil, y: type ?? nil, r: retry ?? nil, p: isPrivate ?? nil)
    }

    /// `null` (read as .some(nil)), or the value `read` reads (nil when it fails).
    private mutating func readOptional<Value>(_ read: (inout WireJSONReader) -> Value?) -> Value?? {
        skipSpace()
        if matches("null") { return .some(nil) }
        guard let value = read(&self) else { return nil }
        return .some(value)
    }

    private mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): index += 1
            default: return
            }
        }
    }

    /// Skips whitespace, then consumes `byte` if it comes next.
    private mutating func take(_ byte: UInt8) -> Bool {
        skipSpace()
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// Consumes `literal` if it comes next.
    private mutating func matches(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - index >= count else { return false }
        for offset in 0..<count where bytes[index + offset] != literal.utf8Start[offset] { return false }
        index += count
        return true
    }

    private mutating func readStrings() -> [String]? {
        guard take(UInt8(ascii: "[")) else { return nil }
        var strings: [String] = []
        if take(UInt8(ascii: "]")) { return strings }
        repeat {
            guard let string = readString() else { return nil }
            strings.append(string)
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "]")) ? strings : nil
    }

    private mutating func readBool() -> Bool? {
        if matches("true") { return true }
        if matches("false") { return false }
        return nil
    }

    /// An integer without fraction or exponent (anything else is left to `JSONDecoder`).
    private mutating func readInteger() -> Int? {
        skipSpace()
        let negative = index < bytes.count && bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        let start = index
        var value = 0
        while index < bytes.count, case let digit = bytes[index], digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") {
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int(digit - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
            index += 1
        }
        let digits = index - start
        guard digits > 0, !(digits > 1 && bytes[start] == UInt8(ascii: "0")) else { return nil }
        if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) {
            return nil
        }
        return negative ? -value : value
    }

    /// A JSON string; nil for invalid UTF-8, a raw control character or a lone surrogate.
    private mutating func readString() -> String? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = index
        var ascii = true
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
                index += 1
                return ascii ? String(decoding: slice, as: UTF8.self) : String(validating: slice, as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { return nil }
            if byte >= 0x80 { ascii = false }
            index += 1
        }
        // Escapes: build the bytes.
        var out = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(validating: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { return nil }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escaped)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    guard let unit = readHex4() else { return nil }
                    var scalar = UInt32(unit)
                    if (0xD800..<0xDC00).contains(unit) {
                        guard matches("\\u"), let low = readHex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                        scalar = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(unit) {
                        return nil
                    }
                    guard let character = Unicode.Scalar(scalar) else { return nil }
                    out.append(contentsOf: Unicode.UTF8.encode(character)!)
                default: return nil
                }
            case 0..<0x20:
                return nil
            default:
                out.append(byte)
            }
        }
        return nil
    }

    private mutating func readHex4() -> UInt16? {
        guard bytes.count - index >= 4 else { return nil }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt16(digit)
            index += 1
        }
        return value
    }
}
