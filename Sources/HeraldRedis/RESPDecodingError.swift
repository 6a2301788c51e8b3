/// Malformed or oversized RESP input. The connection that received it is closed, since the
/// byte stream can no longer be trusted to line up with replies.
public struct RESPDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong with the input; tests and callers match on this.
    public enum Kind: Sendable, Hashable {
        /// The first byte of a value is not a RESP type marker.
        case invalidTypeByte
        /// A length is empty, not a number, or negative (other than `-1` where allowed).
        case invalidLength
        /// A `:` integer is empty, not a number, or outside 64 bits.
        case invalidInteger
        /// A `,` double is not a number, `inf`, `-inf` or `nan`.
        case invalidDouble
        /// A `#` boolean is neither `t` nor `f`.
        case invalidBoolean
        /// A `_` null carries content.
        case invalidNull
        /// A `(` big number is not an optionally signed run of digits.
        case invalidBigNumber
        /// A `=` verbatim string lacks its `xxx:` format prefix.
        case invalidVerbatimString
        /// A line or payload is not terminated by CR LF.
        case missingCRLF
        /// A line grew past ``RESPDecoderLimits/maxLineLength`` without a CR LF.
        case lineTooLong
        /// A bulk payload's declared length exceeds ``RESPDecoderLimits/maxBulkLength``.
        case bulkTooLong
        /// An aggregate declares more elements than ``RESPDecoderLimits/maxAggregateCount``.
        case tooManyElements
        /// Aggregates nest deeper than ``RESPDecoderLimits/maxDepth``.
        case nestingTooDeep
    }

    /// The category of the problem.
    public var kind: Kind
    /// A human-readable account, for logs.
    public var detail: String

    /// Creates an error of `kind` with a description for logs.
    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    /// A one-line account of the error, for logs.
    public var description: String { "RESP decoding error (\(kind)): \(detail)" }
}
