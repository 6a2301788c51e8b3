extension ServerSentEventParser {
    private static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// Interprets one complete line (without its line break), per WHATWG HTML "event stream interpretation".
    mutating func processLine(_ rawLine: UnsafeRawBufferPointer, into elements: inout [Element]) {
        var line = rawLine[...]
        if self.atStreamStart {
            self.atStreamStart = false
            // The first line starts the stream, so its leading BOM is the stream's.
            if line.starts(with: Self.byteOrderMark) {
                line = line.dropFirst(Self.byteOrderMark.count)
            }
        }

        guard let first = line.first else {
            self.dispatch(into: &elements)
            return
        }
        if first == ASCII.colon {
            let text = Self.droppingOneSpace(line.dropFirst())
            elements.append(.comment(Self.decode(text)))
            return
        }

        if let colon = line.firstIndex(of: ASCII.colon) {
            let value = Self.droppingOneSpace(line[(colon + 1)...])
            self.processField(name: line[..<colon], value: value, into: &elements)
        } else {
            self.processField(name: line, value: line[line.endIndex...], into: &elements)
        }
    }

    private mutating func processField(
        name: Slice<UnsafeRawBufferPointer>,
        value: Slice<UnsafeRawBufferPointer>,
        into elements: inout [Element]
    ) {
        if name.elementsEqual("data".utf8) {
            guard self.dataBuffer.count + value.count + 1 <= self.maxBufferedBytes else {
                self.failure = .eventTooLarge(limit: self.maxBufferedBytes)
                return
            }
            self.dataBuffer.append(contentsOf: value)
            self.dataBuffer.append(ASCII.lf)
        } else if name.elementsEqual("event".utf8) {
            self.eventTypeBuffer = Self.decode(value)
        } else if name.elementsEqual("id".utf8) {
            if !value.contains(ASCII.nul) {
                self.lastEventIDBuffer = Self.decode(value)
            }
        } else if name.elementsEqual("retry".utf8) {
            if let milliseconds = Self.parseDigits(value) {
                self.reconnectionTime = milliseconds
                elements.append(.retry(milliseconds))
            }
        }
        // Any other field is ignored.
    }

    /// Handles a blank line: publishes the ID and, if there is data, the event.
    private mutating func dispatch(into elements: inout [Element]) {
        self.lastEventID = self.lastEventIDBuffer
        defer {
            self.eventTypeBuffer = ""
            self.dataBuffer.removeAll(keepingCapacity: self.dataBuffer.capacity <= Self.retainedCapacity)
        }
        guard !self.dataBuffer.isEmpty else { return }
        // Every data field ended with LF; the last one isn't part of the data.
        let data = self.dataBuffer.withUnsafeBytes { Self.decode($0.dropLast()) }
        let event = ServerSentEvent(
            data: data,
            event: self.eventTypeBuffer.isEmpty ? nil : self.eventTypeBuffer,
            id: self.lastEventID.isEmpty ? nil : self.lastEventID
        )
        elements.append(.event(event))
    }

    private static func droppingOneSpace(_ bytes: Slice<UnsafeRawBufferPointer>) -> Slice<UnsafeRawBufferPointer> {
        bytes.first == ASCII.space ? bytes.dropFirst() : bytes
    }

    /// Decodes UTF-8, replacing invalid sequences with U+FFFD as the spec's decoder does.
    private static func decode(_ bytes: Slice<UnsafeRawBufferPointer>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes), as: UTF8.self)
    }

    /// The value of a non-empty run of ASCII digits; `nil` for anything else, or if it overflows `Int`.
    private static func parseDigits(_ bytes: Slice<UnsafeRawBufferPointer>) -> Int? {
        guard !bytes.isEmpty else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= ASCII.zero, byte <= ASCII.nine else { return nil }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(Int(byte - ASCII.zero))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
        }
        return value
    }
}
