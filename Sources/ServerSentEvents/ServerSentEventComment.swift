import NIOCore

/// Comments (lines starting with ':'), used for heartbeats and notices. Any CR/LF/CRLF inside text starts a new comment line, so a comment can never inject a field.
///
/// Clients ignore comments, which makes them the standard way to keep idle connections
/// open through proxies.
public enum ServerSentEventComment {
    /// Appends `text` as comment lines: `""` becomes `:\n`, `"hi"` becomes `: hi\n`,
    /// and `"a\nb"` becomes `: a\n: b\n`.
    public static func encode(_ text: String, into buffer: inout ByteBuffer) {
        text.withContiguousUTF8 { text in
            let shape = LineBreaks.measure(text)
            // Each line is ":" and LF, plus a space before non-empty text; that space is counted for every line.
            let maximumSize = text.count - shape.lineBreakBytes + shape.lineCount * 3
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: maximumSize) { destination in
                var writer = UnsafeByteWriter(destination)
                LineBreaks.forEachLine(in: text) { line in
                    if line.isEmpty {
                        writer.write(ASCII.colon)
                    } else {
                        writer.write(": ")
                        writer.write(line)
                    }
                    writer.write(ASCII.lf)
                }
                return writer.count
            }
        }
    }

    /// Returns `text` encoded as comment lines in a new buffer, e.g. a shared heartbeat.
    public static func encoded(_ text: String, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 0)
        encode(text, into: &buffer)
        return buffer
    }
}
