/// Bounds the decoder enforces on untrusted input, so a broken or hostile peer cannot make
/// the client allocate without limit or recurse without end.
public struct RESPDecoderLimits: Sendable, Hashable {
    /// Deepest nesting of aggregates (arrays, maps, sets, pushes, attributes) accepted.
    public var maxDepth: Int
    /// Largest bulk, blob-error or verbatim payload accepted, in bytes. Redis allows 512 MiB;
    /// the default is 64 MiB.
    public var maxBulkLength: Int
    /// Most elements one aggregate may declare (a map's entries count once each).
    public var maxAggregateCount: Int
    /// Longest line (simple string, error, number, header) accepted, in bytes, excluding CR LF.
    public var maxLineLength: Int

    /// Creates limits; depth and line length must be positive, the others non-negative.
    public init(
        maxDepth: Int = 32,
        maxBulkLength: Int = 64 * 1024 * 1024,
        maxAggregateCount: Int = 1 << 20,
        maxLineLength: Int = 64 * 1024
    ) {
        precondition(maxDepth > 0 && maxBulkLength >= 0 && maxAggregateCount >= 0 && maxLineLength > 0)
        self.maxDepth = maxDepth
        self.maxBulkLength = maxBulkLength
        self.maxAggregateCount = maxAggregateCount
        self.maxLineLength = maxLineLength
    }

    /// The defaults: depth 32, 64 MiB bulks, 1,048,576 elements, 64 KiB lines.
    public static let `default` = RESPDecoderLimits()
}
