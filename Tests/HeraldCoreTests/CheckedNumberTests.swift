import HeraldCore
import Testing

/// Every value from outside goes through CheckedNumber; the edge values must give an answer or
/// a problem, never a trap.
@Suite("Checked numbers")
struct CheckedNumberTests {
    static let edges = [
        "0", "-1", "NaN", "nan", "inf", "-inf", "infinity", "1e300", "-1e300", "", " ", "99999999999999999999", "-99999999999999999999",
        "12abc", "0x10",
    ]

    @Test(arguments: edges)
    func `parses or refuses every edge value without trapping`(text: String) {
        let integer = Result { () throws(CheckedNumber.Problem) in try CheckedNumber.integer(text, in: 1...100) }
        let decimal = Result { () throws(CheckedNumber.Problem) in try CheckedNumber.decimal(text, in: 0.5...100) }
        if case .success(let value) = integer { #expect((1...100).contains(value)) }
        if case .success(let value) = decimal { #expect((0.5...100).contains(value)) }
    }

    @Test func `names what is wrong`() throws {
        #expect(throws: CheckedNumber.Problem("must be a whole number, not 'lots'")) { try CheckedNumber.integer("lots", in: 1...10) }
        #expect(throws: CheckedNumber.Problem("must be from 1 to 10, not 99999999999999999999")) {
            try CheckedNumber.integer("99999999999999999999", in: 1...10)
        }
        #expect(throws: CheckedNumber.Problem("must be from 1 to 10, not 0")) { try CheckedNumber.integer(" 0 ", in: 1...10) }
        #expect(throws: CheckedNumber.Problem("must be a number, not 'inf'")) { try CheckedNumber.decimal("inf", in: 0...1) }
        #expect(throws: CheckedNumber.Problem("must be a number, not 'NaN'")) { try CheckedNumber.decimal("NaN", in: 0...1) }
        #expect(try CheckedNumber.integer(" 7\t", in: 1...10) == 7)
        #expect(try CheckedNumber.decimal("0.25", in: 0...1) == 0.25)
    }

    @Test(arguments: [0.0, -1, .nan, .infinity, -.infinity, 1e300, -1e300, 9.3e15, 1.5])
    func `turns any number of seconds into milliseconds and hints without trapping`(seconds: Double) {
        let milliseconds = CheckedNumber.milliseconds(seconds: seconds)
        if seconds.isNaN { #expect(milliseconds == 0) }
        if seconds == .infinity || seconds == 1e300 { #expect(milliseconds == .max) }
        if seconds == -.infinity || seconds == -1e300 { #expect(milliseconds == .min) }
        if let hint = CheckedNumber.waitHint(seconds: seconds) {
            #expect(hint >= .zero && hint <= .seconds(86_400))
        } else {
            #expect(seconds.isNaN || seconds < 0)
        }
        if let count = CheckedNumber.count(seconds) {
            #expect(count >= 0 && count <= Int(Int32.max))
        }
    }

    @Test func `keeps a hint as given within a day`() {
        #expect(CheckedNumber.waitHint(seconds: 1.5) == .milliseconds(1500))
        #expect(CheckedNumber.waitHint(seconds: 1e300) == .seconds(86_400))
        #expect(CheckedNumber.count(1234.9) == 1234)
        #expect(CheckedNumber.count(-1) == nil)
    }
}
