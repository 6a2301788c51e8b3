import HeraldHub
import Testing

@Suite struct UpdatePositionTests {
    /// What `UpdatePosition.init?(_:)` read before it was written as one pass over the bytes.
    static func reference(_ text: String) -> UpdatePosition? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = UInt64(parts[0]), let minor = UInt64(parts[1]) else { return nil }
        return UpdatePosition(major: major, minor: minor)
    }

    @Test func parsesExactlyWhatSplittingAndUInt64Parsed() {
        let cases = [
            "0-0", "1733250000000-0", "1-18446744073709551615", "18446744073709551615-0", "18446744073709551616-0",
            "1-18446744073709551616", "", "-", "1-", "-1", "1--1", "-1-1", "1-2-3", "+1-+2", "++1-2", "1+-2", "1-2+",
            "+-1", "1-+", " 1-2", "1-2 ", "١-2", "1-٢", "00-007", "abc", "1_2",
        ]
        for text in cases {
            #expect(UpdatePosition(text) == Self.reference(text), "\(text.debugDescription)")
        }
        var random = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789-+ x9")
        for _ in 0..<20_000 {
            let text = String((0..<Int.random(in: 0...24, using: &random)).map { _ in alphabet.randomElement(using: &random)! })
            #expect(UpdatePosition(text) == Self.reference(text), "\(text.debugDescription)")
        }
        #expect(UpdatePosition("1733250000000-7") == UpdatePosition(major: 1_733_250_000_000, minor: 7))
        #expect(UpdatePosition(Substring("5-6")) == UpdatePosition(major: 5, minor: 6))
    }
}
