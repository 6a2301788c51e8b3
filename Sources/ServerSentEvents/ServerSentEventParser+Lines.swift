extension ServerSentEventParser {
    /// Splits a chunk into lines, joining with the line left pending by earlier chunks.
    mutating func consume(_ chunk: UnsafeRawBufferPointer, into elements: inout [Element]) {
        let end = chunk.count
        var index = 0
        if self.skipLeadingLF, end > 0 {
            self.skipLeadingLF = false
            if chunk[0] == ASCII.lf { index = 1 }
        }

        while index < end, self.failure == nil {
            var lineEnd = LineBreaks.firstIndex(in: chunk, from: index)
            let piece = UnsafeRawBufferPointer(rebasing: chunk[index..<lineEnd])
            guard self.pendingLine.count + piece.count <= self.maxBufferedBytes else {
                self.failure = .lineTooLong(limit: self.maxBufferedBytes)
                return
            }
            if lineEnd == end {
                self.pendingLine.append(contentsOf: piece)
                return
            }

            if self.pendingLine.isEmpty {
                self.processLine(piece, into: &elements)
            } else {
                // Take the buffer out of `self` so it can be read while `self` is mutated.
                var line: [UInt8] = []
                swap(&line, &self.pendingLine)
                line.append(contentsOf: piece)
                line.withUnsafeBytes { self.processLine($0, into: &elements) }
                line.removeAll(keepingCapacity: line.capacity <= Self.retainedCapacity)
                self.pendingLine = line
            }

            if chunk[lineEnd] == ASCII.cr {
                if lineEnd + 1 < end {
                    if chunk[lineEnd + 1] == ASCII.lf { lineEnd += 1 }
                } else {
                    self.skipLeadingLF = true
                }
            }
            index = lineEnd + 1
        }
    }

    /// Buffers up to this size are reused between lines and events; larger ones are released.
    static var retainedCapacity: Int { 64 * 1024 }
}
