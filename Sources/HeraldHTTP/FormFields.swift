/// Fields of an `application/x-www-form-urlencoded` body or a URL query, decoded strictly:
/// `+` is a space, `%XX` is a byte, and malformed escapes or invalid UTF-8 are errors.
package struct FormFields: Sendable, Hashable {
    /// The fields in their order of appearance; a name may repeat (e.g. `topic`).
    package let fields: [(name: String, value: String)]

    /// Why a form could not be decoded; `reason` is short and safe to show.
    package struct DecodingError: Error, Hashable, CustomStringConvertible {
        /// A short human-readable reason.
        package let reason: String
        package var description: String { reason }
    }

    /// No fields: a request without a query string.
    static let empty = FormFields(fields: [])

    private init(fields: [(name: String, value: String)]) {
        self.fields = fields
    }

    /// Decodes `encoded` (the bytes after `?`, or a request body).
    package init(decoding encoded: some Collection<UInt8>) throws(DecodingError) {
        let decoded =
            encoded.withContiguousStorageIfAvailable(Self.decode)
            ?? Array(encoded).withUnsafeBufferPointer(Self.decode)
        self.fields = try decoded.get()
    }

    /// Splits at `&`, then at the first `=`; empty segments are skipped.
    private static func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> Result<[(name: String, value: String)], DecodingError> {
        var fields: [(name: String, value: String)] = []
        var start = 0
        while start < bytes.count {
            var end = start
            var equals: Int?
            var escaped = false
            while end < bytes.count, bytes[end] != UInt8(ascii: "&") {
                switch bytes[end] {
                case UInt8(ascii: "=") where equals == nil: equals = end
                case UInt8(ascii: "%"), UInt8(ascii: "+"): escaped = true
                default: break
                }
                end += 1
            }
            if end > start {
                let nameEnd = equals ?? end
                let valueStart = equals.map { $0 + 1 } ?? end
                do {
                    let name = try segment(bytes, start..<nameEnd, escaped: escaped)
                    let value = try segment(bytes, valueStart..<end, escaped: escaped)
                    fields.append((name, value))
                } catch {
                    return .failure(error)
                }
            }
            start = end + 1
        }
        return .success(fields)
    }

    /// One name or value: `+` is a space, `%XX` a byte, and the result must be UTF-8.
    private static func segment(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, escaped: Bool)
        throws(DecodingError) -> String
    {
        let invalid = DecodingError(reason: "form field is not valid UTF-8")
        guard escaped else {
            let raw = UnsafeBufferPointer(rebasing: bytes[range])
            // ASCII needs no validation (and skips the generic validator's metadata lookups).
            if raw.allSatisfy({ $0 < 0x80 }) { return String(decoding: raw, as: UTF8.self) }
            guard let text = String(validating: raw, as: UTF8.self) else { throw invalid }
            return text
        }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(range.count)
        var index = range.lowerBound
        while index < range.upperBound {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "+"):
                decoded.append(0x20)
            case UInt8(ascii: "%"):
                guard index + 2 < range.upperBound, let high = bytes[index + 1].asciiHexValue,
                    let low = bytes[index + 2].asciiHexValue
                else {
                    throw DecodingError(reason: "malformed percent-encoding in form")
                }
                decoded.append(high << 4 | low)
                index += 2
            default:
                decoded.append(byte)
            }
            index += 1
        }
        guard let text = String(validating: decoded, as: UTF8.self) else { throw invalid }
        return text
    }

    /// Every value of `name`, in order.
    package func values(_ name: String) -> [String] {
        fields.compactMap { $0.name == name ? $0.value : nil }
    }

    /// Whether a field named `name` is present, whatever its value (empty too); a bare
    /// `name` without `=` counts.
    package func contains(_ name: String) -> Bool {
        fields.contains { $0.name == name }
    }

    /// The single value of `name`; nil when absent, an error when given more than once.
    package func single(_ name: String) throws(DecodingError) -> String? {
        var found: String?
        for field in fields where field.name == name {
            if found != nil { throw DecodingError(reason: "field '\(name)' given more than once") }
            found = field.value
        }
        return found
    }

    /// Decodes `%XX` escapes (and nothing else: `+` stays `+`), as in a URL path segment.
    package static func percentDecode(_ text: some StringProtocol) throws(DecodingError) -> String {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next()?.asciiHexValue, let low = iterator.next()?.asciiHexValue else {
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

    package static func == (lhs: FormFields, rhs: FormFields) -> Bool {
        lhs.fields.elementsEqual(rhs.fields) { $0.name == $1.name && $0.value == $1.value }
    }

    package func hash(into hasher: inout Hasher) {
        for field in fields {
            hasher.combine(field.name)
            hasher.combine(field.value)
        }
    }
}
