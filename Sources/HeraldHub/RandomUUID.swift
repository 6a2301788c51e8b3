import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Random (version 4) UUIDs as lowercase `urn:uuid:` strings, the ids Mercure hubs hand out.
///
/// Every publish needs one, so this avoids what the Foundation route cost in profiles: a
/// system call per id (random bytes are read 4 KiB at a time from `/dev/urandom`) and
/// formatting through an upper-case string that is then lower-cased.
enum RandomUUID {
    private static let pool = NIOLockedValueBox(RandomBytePool())

    /// A fresh `urn:uuid:xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`.
    static func urn() -> String {
        urn(next())
    }

    /// A fresh id's 128 bits, version and variant set: what a subscription keeps (16 bytes
    /// inline instead of a 45-byte string on the heap for every idle stream), rendered by
    /// `urn(_:)` when someone asks.
    static func next() -> Bits {
        var (high, low) = pool.withLockedValue { $0.next128() }
        high = (high & ~0xF000) | 0x4000  // version 4
        low = (low & ~(0xC0 << 56)) | (0x80 << 56)  // RFC 4122 variant
        return Bits(high: high, low: low)
    }

    /// An id's 128 bits.
    struct Bits: Hashable, Sendable {
        let high: UInt64
        let low: UInt64
    }

    /// The `urn:uuid:` form of `bits`.
    static func urn(_ bits: Bits) -> String {
        let (high, low) = (bits.high, bits.low)
        return String(unsafeUninitializedCapacity: 45) { out in
            var position = 0
            for byte in "urn:uuid:".utf8 {
                out[position] = byte
                position += 1
            }
            for nibble in 0..<32 {
                if nibble == 8 || nibble == 12 || nibble == 16 || nibble == 20 {
                    out[position] = UInt8(ascii: "-")
                    position += 1
                }
                let word = nibble < 16 ? high : low
                let value = UInt8(truncatingIfNeeded: word >> UInt64(60 - 4 * (nibble % 16))) & 0xF
                out[position] = value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
                position += 1
            }
            return position
        }
    }
}

/// Random bytes from the kernel's generator, read a block at a time.
private struct RandomBytePool {
    private var words = [UInt64](repeating: 0, count: 512)
    private var index = 512

    mutating func next128() -> (UInt64, UInt64) {
        if index + 2 > words.count {
            refill()
            index = 0
        }
        defer { index += 2 }
        return (words[index], words[index + 1])
    }

    private mutating func refill() {
        let filled = words.withUnsafeMutableBytes { bytes -> Bool in
            let descriptor = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { return false }
            defer { close(descriptor) }
            var offset = 0
            while offset < bytes.count {
                let count = read(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if count > 0 {
                    offset += count
                } else if count == 0 || errno != EINTR {
                    return false
                }
            }
            return true
        }
        if !filled {
            // No /dev/urandom (a bare chroot): the standard generator, a word at a time.
            var generator = SystemRandomNumberGenerator()
            for index in words.indices { words[index] = generator.next() }
        }
    }
}
