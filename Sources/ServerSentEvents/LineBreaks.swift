/// Splits UTF-8 text into lines the way the wire format does: at CRLF, LF or CR.
///
/// Text with `n` line breaks has `n + 1` lines; a trailing break yields a final empty line,
/// and empty text is one empty line.
enum LineBreaks {
    /// The index of the first CR or LF at or after `start`, or `bytes.count` if there is none.
    ///
    /// Looks at eight bytes at a time, since most text has long runs without line breaks.
    static func firstIndex(in bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        let end = bytes.count
        var index = start
        if let base = bytes.baseAddress {
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highBits: UInt64 = 0x8080_8080_8080_8080
            let allLF = ones &* UInt64(ASCII.lf)
            let allCR = ones &* UInt64(ASCII.cr)
            while end - index >= 8 {
                let word = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                // A byte of `x` is zero exactly where `word` holds LF (or CR); this flags any zero byte.
                let lf = word ^ allLF
                let cr = word ^ allCR
                if ((lf &- ones) & ~lf | (cr &- ones) & ~cr) & highBits != 0 { break }
                index += 8
            }
        }
        while index < end {
            let byte = bytes[index]
            if byte == ASCII.lf || byte == ASCII.cr { return index }
            index += 1
        }
        return end
    }

    /// The number of lines in `bytes` and how many bytes their line breaks take.
    static func measure(_ bytes: UnsafeRawBufferPointer) -> (lineCount: Int, lineBreakBytes: Int) {
        var lineCount = 1
        var lineBreakBytes = 0
        var index = firstIndex(in: bytes, from: 0)
        while index < bytes.count {
            let length = breakLength(in: bytes, at: index)
            lineCount += 1
            lineBreakBytes += length
            index = firstIndex(in: bytes, from: index + length)
        }
        return (lineCount, lineBreakBytes)
    }

    /// Calls `body` with each line of `bytes`, without its line break.
    static func forEachLine(in bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var lineStart = 0
        while true {
            let lineEnd = firstIndex(in: bytes, from: lineStart)
            body(UnsafeRawBufferPointer(rebasing: bytes[lineStart..<lineEnd]))
            if lineEnd == bytes.count { return }
            lineStart = lineEnd + breakLength(in: bytes, at: lineEnd)
        }
    }

    /// 2 for a CRLF at `index`, else 1 (a lone CR or LF).
    private static func breakLength(in bytes: UnsafeRawBufferPointer, at index: Int) -> Int {
        bytes[index] == ASCII.cr && index + 1 < bytes.count && bytes[index + 1] == ASCII.lf ? 2 : 1
    }
}
