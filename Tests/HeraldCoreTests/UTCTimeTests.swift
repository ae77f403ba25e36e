import Foundation
import HeraldCore
import Testing

@Suite("UTC time fields")
struct UTCTimeTests {
    /// The same instants through Foundation's own formatters, which the hand-made fields replace.
    @Test(arguments: [0, 951_782_400_123, 1_795_655_414_007, 4_102_444_799_999, -1])
    func `every form matches Foundation's formatting`(milliseconds: Int64) {
        let date = Date(milliseconds: milliseconds)
        let time = UTCTime(date)
        // Foundation truncates the binary fraction (.007 comes out as .006), so only the seconds
        // are compared with it; the milliseconds are the instant's own.
        let foundation = date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        #expect(time.iso8601.prefix(20) == foundation.prefix(20))
        #expect(time.iso8601.suffix(4) == "\(String(format: "%03d", (milliseconds % 1000 + 1000) % 1000))Z")

        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, d MMM yyyy HH:mm:ss Z"
        #expect(time.rfc5322 == formatter.string(from: date))
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        #expect(time.basicDateTime == formatter.string(from: date))
    }

    @Test(arguments: [0, 951_782_400_123, 1_795_655_414_007, 1_798_761_599_999, 1_798_761_600_000, 4_102_444_799_999, -1])
    func `day and month periods start and end where Foundation's calendar says`(milliseconds: Int64) {
        let date = Date(milliseconds: milliseconds)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        let dayStart = calendar.date(from: DateComponents(year: parts.year, month: parts.month, day: parts.day))!
        let monthStart = calendar.date(from: DateComponents(year: parts.year, month: parts.month, day: 1))!
        #expect(SendQuota.Period.day.start(containing: date) == dayStart)
        #expect(SendQuota.Period.day.end(containing: date) == calendar.date(byAdding: .day, value: 1, to: dayStart))
        #expect(SendQuota.Period.month.start(containing: date) == monthStart)
        #expect(SendQuota.Period.month.end(containing: date) == calendar.date(byAdding: .month, value: 1, to: monthStart))
    }
}
