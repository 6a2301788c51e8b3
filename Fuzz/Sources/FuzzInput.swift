#if Fuzzing
/// Reads a fuzzer's input as a few parameters followed by data, like libFuzzer's
/// FuzzedDataProvider: past the end every read yields zeros or nothing, so any input is valid.
struct FuzzInput {
    let bytes: [UInt8]
    private(set) var index = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    var isAtEnd: Bool { index >= bytes.count }

    mutating func byte() -> UInt8 {
        guard index < bytes.count else { return 0 }
        defer { index += 1 }
        return bytes[index]
    }

    /// The bytes up to (not including) the next `terminator`, which is consumed.
    mutating func field(terminator: UInt8 = 0) -> ArraySlice<UInt8> {
        let start = index
        while index < bytes.count, bytes[index] != terminator { index += 1 }
        let field = bytes[start..<index]
        if index < bytes.count { index += 1 }
        return field
    }

    mutating func rest() -> ArraySlice<UInt8> {
        defer { index = bytes.count }
        return bytes[min(index, bytes.count)...]
    }
}

/// A deterministic way to cut `count` bytes into chunks, so a parser's answer can be checked
/// against the same bytes in one piece; `seed` chooses the chunk sizes.
func chunkSizes(count: Int, seed: UInt8) -> [Int] {
    var state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 | 1
    let largest = [1, 2, 3, 5, 8, 17, 64, 300][Int(seed & 7)]
    var sizes: [Int] = []
    var remaining = count
    while remaining > 0 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        let size = min(remaining, Int(state % UInt64(largest)) + 1)
        sizes.append(size)
        remaining -= size
    }
    return sizes
}

/// `bytes` cut into chunks of `sizes`.
func chunks<C: RandomAccessCollection<UInt8>>(_ bytes: C, sizes: [Int]) -> [C.SubSequence] {
    var result: [C.SubSequence] = []
    var start = bytes.startIndex
    for size in sizes {
        let end = bytes.index(start, offsetBy: size)
        result.append(bytes[start..<end])
        start = end
    }
    return result
}

/// The bytes as hex, for property failure messages.
func hex(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}
#endif
