import NIOCore

/// The aggregate types of RESP, whose elements follow their header on the wire.
enum RESPAggregateKind: Sendable {
    case array, set, push, map, attribute
}

/// One element as read off the wire: a finished scalar, or the header of an aggregate.
enum RESPToken: Sendable {
    case value(RESPValue)
    /// `elementCount` counts wire elements: twice the entries of a map, plus one for the
    /// value an attribute is attached to.
    case aggregate(RESPAggregateKind, elementCount: Int)
}

/// Reads single RESP elements; consumes bytes only when a whole element is present.
struct RESPTokenReader {
    let limits: RESPDecoderLimits
    /// How many bytes of the pending element's first line are known to hold no CR or LF, so
    /// a long line arriving in small pieces is scanned once rather than once per piece. Valid
    /// because unconsumed bytes never change between calls; reset when an element is consumed.
    var scannedLineBytes = 0

    private static let cr: UInt8 = 13
    private static let lf: UInt8 = 10

    mutating func readToken(from buffer: inout ByteBuffer) throws(RESPDecodingError) -> RESPToken? {
        let token = try readElement(from: &buffer)
        if token != nil { scannedLineBytes = 0 }
        return token
    }

    private mutating func readElement(from buffer: inout ByteBuffer) throws(RESPDecodingError) -> RESPToken? {
        guard let typeByte = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        guard Self.isTypeByte(typeByte) else {
            throw RESPDecodingError(.invalidTypeByte, "unexpected type byte 0x\(String(typeByte, radix: 16))")
        }
        let lineStart = buffer.readerIndex + 1
        guard let lineLength = try findLineEnd(in: buffer, from: lineStart) else { return nil }
        let line = buffer.getSlice(at: lineStart, length: lineLength)!
        let afterLine = lineStart + lineLength + 2

        func consumeLine(_ value: RESPValue) -> RESPToken {
            buffer.moveReaderIndex(to: afterLine)
            return .value(value)
        }

        switch typeByte {
        case UInt8(ascii: "+"):
            return consumeLine(.simpleString(String(buffer: line)))
        case UInt8(ascii: "-"):
            return consumeLine(.simpleError(String(buffer: line)))
        case UInt8(ascii: ":"):
            return consumeLine(.integer(try Self.parseInteger(line)))
        case UInt8(ascii: "_"):
            guard lineLength == 0 else { throw RESPDecodingError(.invalidNull, "null with content") }
            return consumeLine(.null)
        case UInt8(ascii: "#"):
            switch line.readableBytesView.first {
            case UInt8(ascii: "t") where lineLength == 1: return consumeLine(.boolean(true))
            case UInt8(ascii: "f") where lineLength == 1: return consumeLine(.boolean(false))
            default: throw RESPDecodingError(.invalidBoolean, "boolean is neither t nor f")
            }
        case UInt8(ascii: ","):
            return consumeLine(.double(try Self.parseDouble(line)))
        case UInt8(ascii: "("):
            return consumeLine(.bigNumber(try Self.parseBigNumber(line)))
        case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
            return try readBlob(typeByte: typeByte, header: line, payloadStart: afterLine, from: &buffer)
        default:
            return try readAggregateHeader(typeByte: typeByte, header: line, next: afterLine, from: &buffer)
        }
    }

    private static func isTypeByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "$"),
            UInt8(ascii: "*"), UInt8(ascii: "_"), UInt8(ascii: ","), UInt8(ascii: "#"),
            UInt8(ascii: "("), UInt8(ascii: "!"), UInt8(ascii: "="), UInt8(ascii: "%"),
            UInt8(ascii: "~"), UInt8(ascii: "|"), UInt8(ascii: ">"):
            true
        default:
            false
        }
    }

    /// Length of the line starting at `start`, excluding its CR LF; nil if the CR LF has not
    /// arrived yet.
    private mutating func findLineEnd(in buffer: ByteBuffer, from start: Int) throws(RESPDecodingError) -> Int? {
        let available = buffer.writerIndex - start
        let scanLength = min(available, limits.maxLineLength + 1)
        let resumeAt = min(scannedLineBytes, scanLength)
        let found: Int? = buffer.withUnsafeReadableBytes { bytes in
            let offset = start - buffer.readerIndex
            for index in resumeAt..<scanLength {
                let byte = bytes[offset + index]
                if byte == Self.cr || byte == Self.lf { return index }
            }
            return nil
        }
        scannedLineBytes = found ?? scanLength
        guard let found else {
            if available > limits.maxLineLength {
                throw RESPDecodingError(.lineTooLong, "no CR LF within \(limits.maxLineLength) bytes")
            }
            return nil
        }
        guard buffer.getInteger(at: start + found, as: UInt8.self) == Self.cr else {
            throw RESPDecodingError(.missingCRLF, "line feed without carriage return")
        }
        guard let next = buffer.getInteger(at: start + found + 1, as: UInt8.self) else { return nil }
        guard next == Self.lf else {
            throw RESPDecodingError(.missingCRLF, "carriage return not followed by line feed")
        }
        return found
    }

    private func readBlob(
        typeByte: UInt8, header: ByteBuffer, payloadStart: Int, from buffer: inout ByteBuffer
    ) throws(RESPDecodingError) -> RESPToken? {
        let length = try Self.parseLength(header, allowsNull: typeByte == UInt8(ascii: "$"))
        guard let length else {
            buffer.moveReaderIndex(to: payloadStart)
            return .value(.bulkString(nil))
        }
        guard length <= limits.maxBulkLength else {
            throw RESPDecodingError(.bulkTooLong, "declared length exceeds \(limits.maxBulkLength) bytes")
        }
        let available = buffer.writerIndex - payloadStart
        guard available >= length + 2 else { return nil }
        guard buffer.getInteger(at: payloadStart + length, as: UInt8.self) == Self.cr,
            buffer.getInteger(at: payloadStart + length + 1, as: UInt8.self) == Self.lf
        else {
            throw RESPDecodingError(.missingCRLF, "payload of \(length) bytes not followed by CR LF")
        }
        // Copy the payload so the value does not pin the (larger) receive buffer in memory.
        var payload = ByteBufferAllocator().buffer(capacity: length)
        payload.writeImmutableBuffer(buffer.getSlice(at: payloadStart, length: length)!)
        buffer.moveReaderIndex(to: payloadStart + length + 2)

        switch typeByte {
        case UInt8(ascii: "$"):
            return .value(.bulkString(payload))
        case UInt8(ascii: "!"):
            return .value(.blobError(String(buffer: payload)))
        default:
            guard length >= 4, payload.getInteger(at: payload.readerIndex + 3, as: UInt8.self) == UInt8(ascii: ":")
            else {
                throw RESPDecodingError(.invalidVerbatimString, "verbatim string without xxx: format")
            }
            let format = payload.readString(length: 3)!
            payload.moveReaderIndex(forwardBy: 1)
            return .value(.verbatimString(format: format, payload))
        }
    }

    private func readAggregateHeader(
        typeByte: UInt8, header: ByteBuffer, next: Int, from buffer: inout ByteBuffer
    ) throws(RESPDecodingError) -> RESPToken {
        let isArray = typeByte == UInt8(ascii: "*")
        let declared = try Self.parseLength(header, allowsNull: isArray)
        buffer.moveReaderIndex(to: next)
        guard let count = declared else { return .value(.array(nil)) }
        guard count <= limits.maxAggregateCount, count < Int.max / 2 else {
            throw RESPDecodingError(.tooManyElements, "aggregate declares more than \(limits.maxAggregateCount) elements")
        }
        switch typeByte {
        case UInt8(ascii: "*"):
            return count == 0 ? .value(.array([])) : .aggregate(.array, elementCount: count)
        case UInt8(ascii: "~"):
            return count == 0 ? .value(.set([])) : .aggregate(.set, elementCount: count)
        case UInt8(ascii: ">"):
            return count == 0 ? .value(.push([])) : .aggregate(.push, elementCount: count)
        case UInt8(ascii: "%"):
            return count == 0 ? .value(.map([])) : .aggregate(.map, elementCount: count * 2)
        default:  // "|": attributes, then the value they are attached to
            return .aggregate(.attribute, elementCount: count * 2 + 1)
        }
    }

    /// A non-negative decimal length, or nil for `-1` when the type has a null form. Lengths
    /// too large for `Int` saturate, so the caller's limit check rejects them.
    private static func parseLength(_ line: ByteBuffer, allowsNull: Bool) throws(RESPDecodingError) -> Int? {
        let bytes = line.readableBytesView
        if allowsNull, bytes.elementsEqual([UInt8(ascii: "-"), UInt8(ascii: "1")]) { return nil }
        guard !bytes.isEmpty else { throw RESPDecodingError(.invalidLength, "empty length") }
        var value = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                throw RESPDecodingError(.invalidLength, "length \"\(String(buffer: line))\" is not a count")
            }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            value = overflow1 || overflow2 ? Int.max : sum
        }
        return value
    }

    private static func parseInteger(_ line: ByteBuffer) throws(RESPDecodingError) -> Int64 {
        var bytes = line.readableBytesView[...]
        var negative = false
        if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
            negative = sign == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        guard !bytes.isEmpty else { throw RESPDecodingError(.invalidInteger, "empty integer") }
        var value: Int64 = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                throw RESPDecodingError(.invalidInteger, "integer \"\(String(buffer: line))\" has a non-digit")
            }
            // Accumulate on the negative side, which also holds Int64.min.
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = times10.subtractingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else {
                throw RESPDecodingError(.invalidInteger, "integer \"\(String(buffer: line))\" exceeds 64 bits")
            }
            value = next
        }
        if negative { return value }
        guard value != .min else {
            throw RESPDecodingError(.invalidInteger, "integer \"\(String(buffer: line))\" exceeds 64 bits")
        }
        return -value
    }

    private static func parseDouble(_ line: ByteBuffer) throws(RESPDecodingError) -> Double {
        let text = String(buffer: line)
        switch text {
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        case "nan", "-nan": return .nan
        default: break
        }
        let allowed = text.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+")
                || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
        }
        guard allowed, let first = text.utf8.first, first != UInt8(ascii: "."), let value = Double(text) else {
            throw RESPDecodingError(.invalidDouble, "\"\(text)\" is not a double")
        }
        return value
    }

    private static func parseBigNumber(_ line: ByteBuffer) throws(RESPDecodingError) -> String {
        let text = String(buffer: line)
        var digits = Substring(text)
        if digits.first == "-" || digits.first == "+" { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw RESPDecodingError(.invalidBigNumber, "\"\(text)\" is not a big number")
        }
        return text
    }
}
