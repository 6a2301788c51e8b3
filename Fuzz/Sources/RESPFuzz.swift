#if Fuzzing
import NIOCore
import HeraldRedis

/// The RESP2/RESP3 reply parser (`RESPParser`, over `RESPTokenReader`).
///
/// Input: a limits byte, a chunking seed, then a reply stream. Properties:
/// - the same bytes appended in any chunks give the same values and the same error (or none)
///   as in one piece;
/// - every value, written back in RESP (by the writer below), parses to an equal value
///   (NaN counted equal to itself) and consumes exactly what was written;
/// - commands written by `RESPCommandEncoder` parse as arrays of those bulk strings.
enum RESPFuzz {
    @Sendable static func run(_ data: [UInt8]) {
        var input = FuzzInput(data)
        let mode = input.byte()
        let seed = input.byte()
        let limits =
            mode & 1 == 0
            ? RESPDecoderLimits.default
            : RESPDecoderLimits(
                maxDepth: Int(mode >> 1 & 3) + 1, maxBulkLength: Int(mode >> 3 & 7) * 4,
                maxAggregateCount: Int(mode >> 6) * 2, maxLineLength: Int(mode >> 3 & 7) * 3 + 1
            )
        let stream = Array(input.rest())

        let whole = parse([stream[...]], limits: limits)
        let split = parse(chunks(stream[...], sizes: chunkSizes(count: stream.count, seed: seed)), limits: limits)
        require(
            whole.values.elementsEqual(split.values, by: same) && whole.error == split.error,
            "chunking changed the result: \(whole) vs \(split); stream \(hex(stream))"
        )
        for value in whole.values { roundTrip(value) }

        if mode & 0x80 != 0 {
            let arguments = stream.split(separator: 0, omittingEmptySubsequences: false).map { ByteBuffer(bytes: $0) }
            var parser = RESPParser()
            var encoded = RESPCommandEncoder.encode(arguments)
            let value = try? parser.next(from: &encoded)
            require(
                value.map { same($0, .array(arguments.map { .bulkString($0) })) } == true && encoded.readableBytes == 0,
                "command \(arguments) parses as \(String(describing: value))"
            )
        }
    }

    struct Outcome: CustomStringConvertible {
        var values: [RESPValue] = []
        var error: RESPDecodingError?
        var description: String { "\(values) \(String(describing: error))" }
    }

    /// Appends `pieces` to one buffer in turn, reading every complete value after each.
    private static func parse(_ pieces: [ArraySlice<UInt8>], limits: RESPDecoderLimits) -> Outcome {
        var parser = RESPParser(limits: limits)
        var buffer = ByteBuffer()
        var outcome = Outcome()
        for piece in pieces {
            buffer.writeBytes(piece)
            do {
                while let value = try parser.next(from: &buffer) {
                    outcome.values.append(value)
                    require(!parser.isMidValue, "a value was returned mid-aggregate")
                }
            } catch {
                outcome.error = error
                return outcome
            }
            buffer.discardReadBytes()
        }
        return outcome
    }

    private static func roundTrip(_ value: RESPValue) {
        guard var bytes = write(value) else { return }
        let written = bytes.readableBytes
        var parser = RESPParser()
        let again = Result { () throws(RESPDecodingError) in try parser.next(from: &bytes) }
        guard case .success(let parsed?) = again else {
            require(false, "\(value) written as \(hex(bytes.getBytes(at: 0, length: written) ?? [])) reads as \(again)")
            return
        }
        require(same(parsed, value) && bytes.readableBytes == 0, "\(value) reads back as \(parsed), \(bytes.readableBytes) bytes left")
    }

    /// `value` in RESP; nil for what the wire cannot carry back as it is (a verbatim format
    /// that is not 3 bytes once decoded).
    private static func write(_ value: RESPValue) -> ByteBuffer? {
        var out = ByteBuffer()
        func line(_ marker: String, _ text: String) { out.writeString(marker + text + "\r\n") }
        func write(_ value: RESPValue) -> Bool {
            switch value {
            case .simpleString(let text): line("+", text)
            case .simpleError(let text): line("-", text)
            case .blobError(let text):
                line("!", String(text.utf8.count))
                line("", text)
            case .integer(let number): line(":", String(number))
            case .bulkString(nil): line("$", "-1")
            case .bulkString(let payload?):
                line("$", String(payload.readableBytes))
                out.writeImmutableBuffer(payload)
                line("", "")
            case .array(nil): line("*", "-1")
            case .array(let elements?):
                line("*", String(elements.count))
                return elements.allSatisfy(write)
            case .null: line("_", "")
            case .double(let number): line(",", number.isNaN ? "nan" : "\(number)")
            case .boolean(let flag): line("#", flag ? "t" : "f")
            case .bigNumber(let digits): line("(", digits)
            case .verbatimString(let format, let payload):
                guard format.utf8.count == 3 else { return false }
                line("=", String(payload.readableBytes + 4))
                out.writeString(format + ":")
                out.writeImmutableBuffer(payload)
                line("", "")
            case .map(let entries):
                line("%", String(entries.count))
                return entries.allSatisfy { write($0.key) && write($0.value) }
            case .set(let elements):
                line("~", String(elements.count))
                return elements.allSatisfy(write)
            case .attribute(let entries, let attached):
                line("|", String(entries.count))
                return entries.allSatisfy { write($0.key) && write($0.value) } && write(attached)
            case .push(let elements):
                line(">", String(elements.count))
                return elements.allSatisfy(write)
            }
            return true
        }
        return write(value) ? out : nil
    }

    /// Equality with NaN equal to itself (a RESP `nan` is a value like any other).
    static func same(_ a: RESPValue, _ b: RESPValue) -> Bool {
        switch (a, b) {
        case (.double(let x), .double(let y)): return x == y || (x.isNaN && y.isNaN)
        case (.array(let x?), .array(let y?)), (.set(let x), .set(let y)), (.push(let x), .push(let y)):
            return x.elementsEqual(y, by: same)
        case (.map(let x), .map(let y)):
            return x.elementsEqual(y) { same($0.key, $1.key) && same($0.value, $1.value) }
        case (.attribute(let x, let v), .attribute(let y, let w)):
            return same(v, w) && x.elementsEqual(y) { same($0.key, $1.key) && same($0.value, $1.value) }
        default: return a == b
        }
    }
}
#endif
