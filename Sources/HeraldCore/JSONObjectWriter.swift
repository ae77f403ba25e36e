/// Writes one JSON object, field by field, in the order the caller gives.
///
/// For bodies written once per accepted email (a webhook message each): `JSONEncoder`'s
/// generic machinery cost about 10 µs per body there, a tenth of an accept's CPU. Callers give
/// keys in sorted order, so the bytes are those `JSONEncoder` writes with `.sortedKeys` and
/// `.withoutEscapingSlashes`; a nil value leaves its key out, as synthesized `Encodable` does.
public struct JSONObjectWriter {
    public private(set) var bytes: [UInt8]
    private var isEmpty = true

    public init(capacity: Int = 256) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(capacity)
        bytes.append(UInt8(ascii: "{"))
        self.init(continuing: bytes)
    }

    /// A writer that goes on with `bytes`, which end in the object's opening brace.
    private init(continuing bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The object's bytes, closed.
    public consuming func finished() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    public mutating func string(_ key: String, _ value: String?) {
        guard let value else { return }
        self.key(key)
        Self.append(string: value, to: &bytes)
    }

    public mutating func strings(_ key: String, _ values: [String]) {
        self.key(key)
        bytes.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            Self.append(string: value, to: &bytes)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// An object of strings, its keys sorted as `JSONEncoder` sorts them.
    public mutating func strings(_ key: String, _ values: [String: String]) {
        self.object(key) { object in
            for (name, value) in values.sorted(by: { $0.key < $1.key }) { object.string(name, value) }
        }
    }

    public mutating func object(_ key: String, _ fields: (inout JSONObjectWriter) -> Void) {
        self.key(key)
        bytes.append(UInt8(ascii: "{"))
        // The nested object writes on in the same buffer, which it holds alone meanwhile.
        var object = JSONObjectWriter(continuing: [])
        swap(&object.bytes, &bytes)
        fields(&object)
        bytes = object.finished()
    }

    private mutating func key(_ key: String) {
        if !isEmpty { bytes.append(UInt8(ascii: ",")) }
        isEmpty = false
        Self.append(string: key, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    /// A JSON string: quotes, backslashes and control characters escaped (the short forms
    /// where JSON has them), everything else as its UTF-8.
    private static func append(string: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x00..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: Array("\\u00".utf8))
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0x0F)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
