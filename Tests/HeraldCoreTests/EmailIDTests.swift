import Foundation
import HeraldCore
import HeraldTesting
import Testing

@Suite("Email ids")
struct EmailIDTests {
    @Test func `sort by the time they were made`() {
        var generator = SeededRandomNumberGenerator(seed: 3)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let ids = (0..<100).map { EmailID(date: start.addingTimeInterval(Double($0) * 0.002), using: &generator) }
        #expect(ids == ids.sorted())
    }

    @Test func `are 26 characters that parse back, in any case`() {
        let id = EmailID()
        #expect(id.rawValue.count == 26)
        #expect(EmailID(id.rawValue) == id)
        #expect(EmailID(id.rawValue.lowercased()) == id)
    }

    @Test(arguments: ["", "short", "01M8AQA3VCX46M0GVD964ABZH!", "81M8AQA3VCX46M0GVD964ABZHT", "01M8AQA3VCX46M0GVD964ABZHTX"])
    func `reject anything else`(text: String) {
        #expect(EmailID(text) == nil)
    }

    @Test func `do not repeat`() {
        let ids = Set((0..<10_000).map { _ in EmailID() })
        #expect(ids.count == 10_000)
    }
}
