/// Fields of an `application/x-www-form-urlencoded` body or a URL query, decoded strictly:
/// `+` is a space, `%XX` is a byte, and malformed escapes or invalid UTF-8 are errors.
public struct FormFields: Sendable, Hashable {
    /// The fields in their order of appearance; a name may repeat (e.g. `topic`).
    public let fields: [(name: String, value: String)]

    /// Why a form could not be decoded; `reason` is short and safe to show.
    public struct DecodingError: Error, Hashable, CustomStringConvertible {
        /// A short human-readable reason.
        public let reason: String
        public var description: String { reason }
    }

    /// Decodes `encoded` (the bytes after `?`, or a request body).
    public init(decoding encoded: some Collection<UInt8>) throws(DecodingError) {
        var fields: [(name: String, value: String)] = []
        var name: [UInt8] = []
        var value: [UInt8] = []
        var inValue = false
        var iterator = encoded.makeIterator()

        func finishField() throws(DecodingError) {
            defer {
                name.removeAll(keepingCapacity: true)
                value.removeAll(keepingCapacity: true)
                inValue = false
            }
            if name.isEmpty && value.isEmpty && !inValue { return }
            guard let decodedName = String(validating: name, as: UTF8.self),
                let decodedValue = String(validating: value, as: UTF8.self)
            else {
                throw DecodingError(reason: "form field is not valid UTF-8")
            }
            fields.append((decodedName, decodedValue))
        }

        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "&"):
                try finishField()
            case UInt8(ascii: "=") where !inValue:
                inValue = true
            case UInt8(ascii: "+"):
                if inValue { value.append(0x20) } else { name.append(0x20) }
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue)
                else {
                    throw DecodingError(reason: "malformed percent-encoding in form")
                }
                let decoded = high << 4 | low
                if inValue { value.append(decoded) } else { name.append(decoded) }
            default:
                if inValue { value.append(byte) } else { name.append(byte) }
            }
        }
        try finishField()
        self.fields = fields
    }

    /// Every value of `name`, in order.
    public func values(_ name: String) -> [String] {
        fields.compactMap { $0.name == name ? $0.value : nil }
    }

    /// The single value of `name`; nil when absent, an error when given more than once.
    public func single(_ name: String) throws(DecodingError) -> String? {
        let all = values(name)
        if all.count > 1 { throw DecodingError(reason: "field '\(name)' given more than once") }
        return all.first
    }

    /// Decodes `%XX` escapes (and nothing else: `+` stays `+`), as in a URL path segment.
    public static func percentDecode(_ text: some StringProtocol) throws(DecodingError) -> String {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    throw DecodingError(reason: "malformed percent-encoding")
                }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw DecodingError(reason: "not valid UTF-8")
        }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    public static func == (lhs: FormFields, rhs: FormFields) -> Bool {
        lhs.fields.elementsEqual(rhs.fields) { $0.name == $1.name && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for field in fields {
            hasher.combine(field.name)
            hasher.combine(field.value)
        }
    }
}
