import NIOCore

extension ServerSentEvent {
    /// Appends the encoded event (ending with the blank line that dispatches it). Writes nothing on error.
    ///
    /// Fields are written as `id`, `event`, `retry`, then one `data:` line per line of `data`.
    /// An empty `event` is omitted (clients treat it as the default type anyway).
    public func encode(into buffer: inout ByteBuffer) throws(ServerSentEventEncodingError) {
        try self.validate()
        (self.id ?? "").withContiguousUTF8 { id in
            (self.event ?? "").withContiguousUTF8 { event in
                self.data.withContiguousUTF8 { data in
                    self.write(id: id, event: event, data: data, into: &buffer)
                }
            }
        }
    }

    /// Returns the encoded event in a new buffer; convenient when the event is sent to many clients.
    public func encoded(
        allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) throws(ServerSentEventEncodingError) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 0)
        try self.encode(into: &buffer)
        return buffer
    }

    /// Writes the valid event with one capacity check; `id` and `event` are empty when absent.
    private func write(
        id: UnsafeRawBufferPointer,
        event: UnsafeRawBufferPointer,
        data: UnsafeRawBufferPointer,
        into buffer: inout ByteBuffer
    ) {
        let writesID = self.id != nil
        let writesEvent = !event.isEmpty
        let dataShape = LineBreaks.measure(data)

        var size = 1  // the blank line
        if writesID { size += 5 + id.count }  // "id: " + value + LF
        if writesEvent { size += 8 + event.count }  // "event: " + value + LF
        if let retry { size += 8 + UnsafeByteWriter.decimalDigitCount(retry) }  // "retry: " + digits + LF
        size += data.count - dataShape.lineBreakBytes + dataShape.lineCount * 7  // "data: " + line + LF

        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { destination in
            var writer = UnsafeByteWriter(destination)
            if writesID {
                writer.write("id: ")
                writer.write(id)
                writer.write(ASCII.lf)
            }
            if writesEvent {
                writer.write("event: ")
                writer.write(event)
                writer.write(ASCII.lf)
            }
            if let retry {
                writer.write("retry: ")
                writer.writeDecimal(retry)
                writer.write(ASCII.lf)
            }
            LineBreaks.forEachLine(in: data) { line in
                writer.write("data: ")
                writer.write(line)
                writer.write(ASCII.lf)
            }
            writer.write(ASCII.lf)
            assert(writer.count == size)
            return writer.count
        }
    }
}
