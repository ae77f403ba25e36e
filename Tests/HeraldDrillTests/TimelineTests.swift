import HeraldCore
import HeraldDrill
import Testing

@Suite("Timeline")
struct TimelineTests {
    /// Healthy for a second, then the primary fails: its breaker opens at 1.5 s.
    static func drill() -> SyntheticDrill {
        var drill = SyntheticDrill(.outage)
        drill.stream(from: 0, to: 1, Routes.primary)
        drill.change("outage: primary fails every call", at: 1.01, to: SandboxBehavior(failureRate: 1))
        drill.stream(from: 1.1, to: 1.5, Routes.failOver)
        drill.stream(from: 1.5, to: 3, Routes.secondary)
        drill.sample(at: 0.5, primary: "healthy")
        drill.sample(at: 1.52, primary: "open", openUntil: 4.5)
        drill.change("restore: primary is healthy again", at: 2.99)
        return drill
    }

    @Test func `counts each second's attempts per provider by their start and its failures`() {
        let timeline = Timeline(providers: ["primary", "secondary"], recording: Self.drill().recording)
        #expect(
            timeline.seconds == [
                .init(offset: 0, attempts: [40, 0], failed: 0, states: ["healthy", "healthy"], changes: []),
                .init(
                    offset: 1, attempts: [16, 36], failed: 16, states: ["open", "healthy"], changes: ["outage: primary fails every call"]),
                .init(offset: 2, attempts: [0, 40], failed: 0, states: [nil, nil], changes: ["restore: primary is healthy again"]),
            ]
        )
    }

    @Test func `prints one line a second`() {
        let timeline = Timeline(providers: ["primary", "secondary"], recording: Self.drill().recording)
        #expect(
            timeline.description == """
                t      | attempts:   primary  secondary | failed | state: primary    secondary | changes
                +0 s   |                  40          0 |      0 |        healthy    healthy   |
                +1 s   |                  16         36 |     16 |        open       healthy   | outage: primary fails every call
                +2 s   |                   0         40 |      0 |        -          -         | restore: primary is healthy again
                """
        )
    }

    @Test func `adds a column for a provider met only in attempts`() {
        var drill = Self.drill()
        drill.email(at: 2.5, [("tertiary", false)])
        let timeline = Timeline(providers: ["primary", "secondary"], recording: drill.recording)
        #expect(timeline.providers == ["primary", "secondary", "tertiary"])
        #expect(timeline.seconds[2].attempts == [0, 40, 1])
    }
}
