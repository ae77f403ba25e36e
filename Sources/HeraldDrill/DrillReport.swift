/// The outcome of a drill: what it planned, what it saw, and the judgement.
public struct DrillReport: Sendable, Equatable {
    public var plan: DrillPlan
    public var recording: DrillRecording
    public var timeline: Timeline
    public var verdict: Verdict

    public init(plan: DrillPlan, recording: DrillRecording) {
        self.plan = plan
        self.recording = recording
        self.timeline = Timeline(providers: plan.providers, recording: recording)
        self.verdict = Verdict(plan: plan, recording: recording)
    }
}

extension DrillReport: CustomStringConvertible {
    /// The timeline, then the verdict.
    public var description: String {
        """
        Timeline: attempts by the second they started (from the first email), failed attempts, and each provider's \
        state in that second's sample of GET /v1/providers
        \(timeline)

        \(verdict)
        """
    }
}
