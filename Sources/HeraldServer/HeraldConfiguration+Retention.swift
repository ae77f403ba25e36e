import Foundation
import HeraldCore

extension HeraldConfiguration {
    /// `retention.*`: how long emails and their content are kept, by default and per tenant.
    static func retention(_ settings: SettingsReader) throws(ConfigurationError) -> RetentionPolicy {
        var retention = RetentionPolicy()
        retention.defaultRule = try rule(settings, prefix: "retention")
        retention.interval = try settings.seconds("retention.interval_seconds", default: 60, in: 1...86_400)
        if let directory = try settings.optionalString("retention.archive") {
            retention.archiveDirectory = try archiveDirectory(directory)
        }
        for index in 0... {
            let prefix = "retention.tenants.\(index)"
            guard let tenant = try settings.optionalString("\(prefix).tenant") else { break }
            guard retention.tenantRules[tenant] == nil else {
                throw ConfigurationError(key: "\(prefix).tenant", problem: "names \(tenant) a second time")
            }
            retention.tenantRules[tenant] = try rule(settings, prefix: prefix)
        }
        return retention
    }

    /// The archive's directory, made if missing, and checked for writing now rather than at the
    /// first purge: an archive that cannot be written keeps every email in the store.
    private static func archiveDirectory(_ path: String) throws(ConfigurationError) -> String {
        let manager = FileManager.default
        do {
            try manager.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw ConfigurationError(key: "retention.archive", problem: "cannot create the directory \(path)")
        }
        guard manager.isWritableFile(atPath: path) else {
            throw ConfigurationError(key: "retention.archive", problem: "cannot write to \(path)")
        }
        return path
    }

    /// `content_days`, `email_days` and `metadata_only` under `prefix`; days may be fractions.
    private static func rule(_ settings: SettingsReader, prefix: String) throws(ConfigurationError) -> RetentionRule {
        func days(_ key: String) throws(ConfigurationError) -> Duration? {
            try settings.optionalDouble(key, in: 0.000_01...36_500).map { .milliseconds(Int64(($0 * 86_400_000).rounded())) }
        }
        let rule = RetentionRule(
            contentAge: try days("\(prefix).content_days"), emailAge: try days("\(prefix).email_days"),
            metadataOnly: try settings.bool("\(prefix).metadata_only", default: false))
        if let content = rule.contentAge, let email = rule.emailAge, content >= email {
            throw ConfigurationError(
                key: "\(prefix).content_days", problem: "must be shorter than \(prefix).email_days, which removes the content anyway")
        }
        return rule
    }
}
