/// The bytes the wire format is built from.
enum ASCII {
    static let nul: UInt8 = 0x00
    static let lf: UInt8 = 0x0A
    static let cr: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let colon: UInt8 = 0x3A
    static let zero: UInt8 = 0x30
    static let nine: UInt8 = 0x39
}
