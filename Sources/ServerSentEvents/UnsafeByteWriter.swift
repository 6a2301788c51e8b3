/// Appends bytes to memory that is known to be large enough; the caller computes the size first.
///
/// Used by the encoders so that an event costs one capacity check instead of one per field.
struct UnsafeByteWriter {
    private let destination: UnsafeMutableRawBufferPointer
    private(set) var count = 0

    init(_ destination: UnsafeMutableRawBufferPointer) {
        self.destination = destination
    }

    mutating func write(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        precondition(bytes.count <= destination.count - count, "UnsafeByteWriter overflow")
        (destination.baseAddress! + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    mutating func write(_ text: StaticString) {
        write(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func write(_ byte: UInt8) {
        precondition(count < destination.count, "UnsafeByteWriter overflow")
        destination[count] = byte
        count += 1
    }

    /// Writes a non-negative integer in base ten.
    mutating func writeDecimal(_ value: Int) {
        precondition(value >= 0)
        let digits = Self.decimalDigitCount(value)
        precondition(digits <= destination.count - count, "UnsafeByteWriter overflow")
        var remaining = value
        for offset in stride(from: count + digits - 1, through: count, by: -1) {
            let (quotient, digit) = remaining.quotientAndRemainder(dividingBy: 10)
            destination[offset] = ASCII.zero + UInt8(digit)
            remaining = quotient
        }
        count += digits
    }

    /// How many bytes `writeDecimal(value)` writes.
    static func decimalDigitCount(_ value: Int) -> Int {
        var digits = 1
        var remaining = value
        while remaining >= 10 {
            remaining /= 10
            digits += 1
        }
        return digits
    }
}

extension String {
    /// Calls `body` with the string's UTF-8 bytes, making them contiguous first if needed.
    func withContiguousUTF8<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        var copy = self
        return copy.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }
}
