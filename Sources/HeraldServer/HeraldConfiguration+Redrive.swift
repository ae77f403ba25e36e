import HeraldCore

extension HeraldConfiguration {
    /// `redrive.*`: which failed emails are queued again by themselves, and how often.
    static func redrive(_ settings: SettingsReader) throws(ConfigurationError) -> RedrivePolicy {
        var redrive = RedrivePolicy()
        redrive.enabled = try settings.bool("redrive.enabled", default: redrive.enabled)
        redrive.interval = try settings.seconds("redrive.interval_minutes", default: 60, in: 0.01...10_080) * 60
        redrive.maxTimes = try settings.int("redrive.max_times", default: redrive.maxTimes, in: 1...100)
        redrive.maxAge = try settings.seconds("redrive.max_age_hours", default: 168, in: 0.01...8760) * 3600
        if let names = try settings.optionalStrings("redrive.error_classes") {
            var classes: Set<ErrorClass> = []
            for name in names {
                guard let errorClass = ErrorClass(rawValue: name), !RedrivePolicy.neverRedriven.contains(errorClass) else {
                    throw ConfigurationError(
                        key: "redrive.error_classes",
                        problem: "'\(name)' is not one of transient, failover, provider_fatal, ambiguous (permanent and recipient "
                            + "failures are never redriven)")
                }
                classes.insert(errorClass)
            }
            redrive.errorClasses = classes
        }
        return redrive
    }
}
