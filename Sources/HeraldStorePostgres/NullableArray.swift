import NIOCore
import PostgresNIO

/// An array parameter whose elements may be NULL, which postgres-nio's `Array` encoding cannot
/// carry: batched statements pass one array per column, and some columns are nullable.
///
/// Written in PostgreSQL's binary array format (`array_send` in
/// src/backend/utils/adt/arrayfuncs.c): dimensions, a has-nulls flag, the element type, then
/// the length and lower bound of the one dimension and each element with its length, -1 for
/// NULL.
struct NullableArray<Element: PostgresArrayEncodable>: PostgresEncodable {
    var elements: [Element?]

    init(_ elements: [Element?] = []) {
        self.elements = elements
    }

    mutating func append(_ element: Element?) {
        elements.append(element)
    }

    static var psqlType: PostgresDataType { Element.psqlArrayType }
    static var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) throws {
        buffer.writeInteger(elements.isEmpty ? 0 : 1, as: Int32.self)
        buffer.writeInteger(elements.contains { $0 == nil } ? 1 : 0, as: Int32.self)
        buffer.writeInteger(Element.psqlType.rawValue)
        guard !elements.isEmpty else { return }
        buffer.writeInteger(Int32(elements.count))
        buffer.writeInteger(1, as: Int32.self)
        for element in elements {
            guard let element else {
                buffer.writeInteger(-1, as: Int32.self)
                continue
            }
            let lengthIndex = buffer.writerIndex
            buffer.writeInteger(0, as: Int32.self)
            try element.encode(into: &buffer, context: context)
            buffer.setInteger(Int32(buffer.writerIndex - lengthIndex - 4), at: lengthIndex)
        }
    }
}
