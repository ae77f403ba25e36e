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
}
