import Foundation
import Testing

@testable import HeraldProviders

/// Cutting a batch of events into each event's own bytes, which are stored as its payload.
@Suite("Event reception")
struct EventReceptionTests {
    func elements(_ text: String) -> [String]? {
        let body = Array(text.utf8)
        return EventReception.arrayElements(body)?.map { String(decoding: body[$0], as: UTF8.self) }
    }

    @Test func `each element's bytes, as sent`() {
        #expect(elements(#"[{"a":1},{"b":"x"}]"#) == [#"{"a":1}"#, #"{"b":"x"}"#])
        #expect(elements(" \n[ {\"a\" : 1} ,\r\n\t{ } ]\n") == [#"{"a" : 1}"#, "{ }"])
        #expect(elements("[]") == [])
        #expect(elements(" [ ] ") == [])
        #expect(elements("[1, \"two\", null, [3, 4]]") == ["1", "\"two\"", "null", "[3, 4]"])
    }

    @Test func `commas and brackets inside strings and nested values do not cut`() {
        #expect(
            elements(#"[{"r":"a, b] }{ [c"},{"n":{"m":[1,{"k":","}]}}]"#) == [#"{"r":"a, b] }{ [c"}"#, #"{"n":{"m":[1,{"k":","}]}}"#])
        #expect(
            elements(#"[{"q":"say \"hi\", then ]"},{"e":"\\"},{"u":"\u005d,"}]"#)
                == [#"{"q":"say \"hi\", then ]"}"#, #"{"e":"\\"}"#, #"{"u":"\u005d,"}"#])
        #expect(elements(#"[{"x":"héllo, wörld ✉️"},2]"#) == [#"{"x":"héllo, wörld ✉️"}"#, "2"])
    }

    @Test func `a body that is not an array has no elements`() {
        #expect(elements(#"{"a":[1,2]}"#) == nil)
        #expect(elements("") == nil)
        #expect(elements("   ") == nil)
        #expect(elements("[1, 2") == nil)
    }

    /// Every element cut from random batches reads as the same value JSONSerialization read
    /// for it from the whole body.
    @Test func `every cut element reads as the element JSONSerialization reads`() throws {
        var generator = SystemRandomNumberGenerator()
        let pieces = ["a", ",", "]", "[", "{", "}", "\\\"", "\\\\", " ", "é", ":", "\\n"]
        func randomValue(depth: Int) -> Any {
            switch Int.random(in: 0..<(depth > 2 ? 3 : 5), using: &generator) {
            case 0: return Int.random(in: -1000...1000, using: &generator)
            case 1: return (0..<Int.random(in: 0...8, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined()
            case 2: return NSNull()
            case 3: return (0..<Int.random(in: 0...3, using: &generator)).map { _ in randomValue(depth: depth + 1) }
            default:
                return Dictionary(
                    (0..<Int.random(in: 0...3, using: &generator)).map { ("k\($0)", randomValue(depth: depth + 1)) },
                    uniquingKeysWith: { a, _ in a })
            }
        }
        for _ in 0..<200 {
            let batch = (0..<Int.random(in: 0...6, using: &generator)).map { _ in randomValue(depth: 1) }
            let body = Array(try JSONSerialization.data(withJSONObject: batch, options: [.fragmentsAllowed]))
            let whole = try #require(try JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) as? [Any])
            let cut = try #require(EventReception.arrayElements(body))
            #expect(cut.count == whole.count)
            for (range, value) in zip(cut, whole) {
                let alone = try JSONSerialization.jsonObject(with: Data(body[range]), options: [.fragmentsAllowed])
                #expect(NSArray(array: [alone]).isEqual(NSArray(array: [value])), "\(String(decoding: body, as: UTF8.self))")
            }
        }
    }
}
