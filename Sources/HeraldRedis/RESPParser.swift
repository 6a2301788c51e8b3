import NIOCore

/// An incremental RESP2/RESP3 decoder that survives input split at any byte.
///
/// Call ``next(from:)`` whenever bytes are appended to the buffer. It consumes whole elements
/// only: an element that has not fully arrived is left in the buffer and read again later,
/// while finished elements of an unfinished aggregate are kept here. Nesting is tracked on an
/// explicit stack (no recursion), and no storage is reserved from a length the peer declared.
/// After a throw the parser stays failed: the stream is out of step and must be dropped.
public struct RESPParser: Sendable {
    /// The bounds applied to the input.
    public let limits: RESPDecoderLimits
    private var stack: [PartialAggregate] = []
    private var reader: RESPTokenReader
    private var failure: RESPDecodingError?

    /// Creates a parser that enforces `limits`.
    public init(limits: RESPDecoderLimits = .default) {
        self.limits = limits
        self.reader = RESPTokenReader(limits: limits)
    }

    /// Whether the parser holds part of an aggregate that has not finished arriving.
    public var isMidValue: Bool { !stack.isEmpty }

    /// Decodes the next complete value from `buffer`, consuming its bytes; nil when more bytes
    /// are needed. Between calls, the caller may only append to `buffer` (or drop bytes
    /// already consumed), never change what is still unread.
    public mutating func next(from buffer: inout ByteBuffer) throws(RESPDecodingError) -> RESPValue? {
        if let failure { throw failure }
        do {
            return try decodeNext(from: &buffer)
        } catch {
            failure = error
            throw error
        }
    }

    private mutating func decodeNext(from buffer: inout ByteBuffer) throws(RESPDecodingError) -> RESPValue? {
        while true {
            guard let token = try reader.readToken(from: &buffer) else { return nil }
            var value: RESPValue
            switch token {
            case .value(let complete):
                value = complete
            case .aggregate(let kind, let elementCount):
                guard stack.count < limits.maxDepth else {
                    throw RESPDecodingError(.nestingTooDeep, "aggregates nest deeper than \(limits.maxDepth)")
                }
                stack.append(PartialAggregate(kind: kind, remaining: elementCount))
                continue
            }
            // Fold the finished value into the enclosing aggregates, closing those it completes.
            while !stack.isEmpty {
                let top = stack.count - 1
                stack[top].elements.append(value)
                stack[top].remaining -= 1
                guard stack[top].remaining == 0 else { break }
                value = stack.removeLast().build()
            }
            if stack.isEmpty { return value }
        }
    }
}

/// An aggregate whose elements are still arriving.
private struct PartialAggregate: Sendable {
    var kind: RESPAggregateKind
    var remaining: Int
    var elements: [RESPValue] = []

    init(kind: RESPAggregateKind, remaining: Int) {
        self.kind = kind
        self.remaining = remaining
    }

    func build() -> RESPValue {
        switch kind {
        case .array: return .array(elements)
        case .set: return .set(elements)
        case .push: return .push(elements)
        case .map: return .map(Self.pairs(elements[...]))
        case .attribute: return .attribute(Self.pairs(elements.dropLast()), elements[elements.count - 1])
        }
    }

    private static func pairs(_ flat: ArraySlice<RESPValue>) -> [RESPMapEntry] {
        stride(from: flat.startIndex, to: flat.endIndex, by: 2).map {
            RESPMapEntry(key: flat[$0], value: flat[$0 + 1])
        }
    }
}
