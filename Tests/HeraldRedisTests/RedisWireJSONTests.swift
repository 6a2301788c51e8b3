import Foundation
import HeraldRedis
import Testing

/// The hand-written reader and writer of the Redis wire update must agree with Foundation's
/// `JSONDecoder` on everything: whatever the reader accepts decodes the same with
/// `JSONDecoder`, and whatever `JSONDecoder` refuses the reader refuses too.
@Suite("Redis wire JSON, by hand")
struct RedisWireJSONTests {
    /// Characters that need escaping or several UTF-8 bytes, mixed with plain ones.
    static let alphabet: [String] = [
        "a", "Z", "0", " ", "\"", "\\", "/", "\n", "\r", "\t", "\u{0}", "\u{1}", "\u{1F}", "\u{7F}",
        "é", "€", "😀", "\u{FFFF}", "{", "}", "[", "]", ",", ":", "null",
    ]

    static func randomString(_ random: inout SplitMix64, maxLength: Int = 12) -> String {
        (0..<Int.random(in: 0...maxLength, using: &random)).map { _ in alphabet.randomElement(using: &random)! }.joined()
    }

    static func randomWire(_ random: inout SplitMix64) -> RedisWireUpdate {
        RedisWireUpdate(
            t: (0..<Int.random(in: 1...3, using: &random)).map { _ in randomString(&random) },
            d: randomString(&random, maxLength: 40),
            i: Bool.random(using: &random) ? randomString(&random) : nil,
            y: Bool.random(using: &random) ? randomString(&random) : nil,
            r: Bool.random(using: &random) ? Int.random(in: -5...Int.max, using: &random) : nil,
            p: Bool.random(using: &random) ? Bool.random(using: &random) : nil
        )
    }

    static func foundation(_ bytes: [UInt8]) -> RedisWireUpdate? {
        try? JSONDecoder().decode(RedisWireUpdate.self, from: Data(bytes))
    }

    @Test("Random updates round-trip, and JSONDecoder reads what the writer wrote")
    func roundTrip() throws {
        var random = SplitMix64(state: 0x3150)
        for _ in 0..<2_000 {
            let wire = Self.randomWire(&random)
            let json = Array(wire.json.utf8)
            #expect(RedisWireUpdate.parse(json) == wire)
            #expect(Self.foundation(json) == wire)
            // And the reader reads JSONEncoder's output (escaped slashes, its own key order).
            let encoded = Array(try JSONEncoder().encode(wire))
            #expect(RedisWireUpdate.parse(encoded) == wire)
        }
    }

    @Test("Mutated JSON: the reader declines, or agrees with JSONDecoder")
    func mutations() {
        var random = SplitMix64(state: 0xD1FF)
        var accepted = 0
        var declined = 0
        for _ in 0..<20_000 {
            var bytes = Array(Self.randomWire(&random).json.utf8)
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let position = Int.random(in: 0..<max(1, bytes.count), using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0 where !bytes.isEmpty: bytes[position] = UInt8.random(in: 0...255, using: &random)
                case 1 where !bytes.isEmpty: bytes.remove(at: position)
                case 2: bytes.insert(Array(#"{}[]",:\u0n1.e- "#.utf8).randomElement(using: &random)!, at: min(position, bytes.count))
                default: bytes.insert(contentsOf: Array(#"\ud83d"#.utf8), at: min(position, bytes.count))
                }
            }
            let fast = RedisWireUpdate.parse(bytes)
            let slow = Self.foundation(bytes)
            if let fast {
                #expect(fast == slow, "reader and JSONDecoder disagree on \(String(decoding: bytes, as: UTF8.self).debugDescription)")
                accepted += 1
            } else {
                declined += 1
            }
        }
        // Both branches ran (the mutations are neither all harmless nor all fatal).
        #expect(accepted > 100)
        #expect(declined > 100)
    }

    @Test("Cases by hand: what the reader takes and what it leaves to JSONDecoder")
    func cases() {
        let taken: [(String, RedisWireUpdate)] = [
            (#" { "d" : "x" , "t" : [ "a" , "b" ] } "#, RedisWireUpdate(t: ["a", "b"], d: "x")),
            (#"{"t":[],"d":"","i":null,"y":null,"r":null,"p":null}"#, RedisWireUpdate(t: [], d: "")),
            (#"{"t":["\u00e9\ud83d\ude00\/"],"d":"\b\f\n\r\t\"\\","r":-0,"p":false}"#,
                RedisWireUpdate(t: ["é😀/"], d: "\u{8}\u{C}\n\r\t\"\\", r: 0, p: false)),
            (#"{"t":["a"],"d":"x","r":9223372036854775807,"p":true}"#,
                RedisWireUpdate(t: ["a"], d: "x", r: Int.max, p: true)),
        ]
        for (json, wire) in taken {
            #expect(RedisWireUpdate.parse(Array(json.utf8)) == wire, "\(json)")
            #expect(Self.foundation(Array(json.utf8)) == wire, "\(json)")
        }
        let declined: [[UInt8]] = [
            Array(#"{"t":["a"],"d":"x","r":1.0}"#.utf8),  // a fraction: JSONDecoder decides
            Array(#"{"t":["a"],"d":"x","z":1}"#.utf8),  // unknown key: JSONDecoder ignores it
            Array(#"{"t":["a"],"d":"x","d":"y"}"#.utf8),  // repeated key
            Array(#"{"t":["a"],"d":"\ud83d"}"#.utf8),  // lone surrogate
            Array(#"{"t":["a"],"d":"\ude00\ud83d"}"#.utf8),  // surrogates in the wrong order
            Array(#"{"t":["a"],"d":"x","r":01}"#.utf8),  // leading zero
            Array(#"{"t":["a"],"d":"x","r":99999999999999999999}"#.utf8),  // overflow
            Array(#"{"t":["a"],"d":"x"} x"#.utf8),  // trailing bytes
            Array(#"{"t":["a"],"d":"x"#.utf8),  // cut short
            Array(#"{"t":null,"d":"x"}"#.utf8),
            Array(#"{"d":"x"}"#.utf8),  // no topics
            Array(#"{"t":["a"],"d":"#.utf8) + [0x22, 0xC3, 0x28, 0x22, 0x7D],  // invalid UTF-8
            Array(#"{"t":["a"],"d":""#.utf8) + [0x01, 0x22, 0x7D],  // raw control character
            [],
        ]
        for bytes in declined {
            #expect(RedisWireUpdate.parse(bytes) == nil, "\(String(decoding: bytes, as: UTF8.self).debugDescription)")
        }
        // JSONDecoder ignores an unknown key; the codec still decodes such an update (slowly).
        #expect(Self.foundation(Array(#"{"t":["a"],"d":"x","z":1}"#.utf8)) == RedisWireUpdate(t: ["a"], d: "x"))
    }
}
