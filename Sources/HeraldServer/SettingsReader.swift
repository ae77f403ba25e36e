import Configuration
import Foundation
import HeraldCore

/// Reads settings as strings and parses them itself, so that a value of the wrong kind stops
/// start-up with its key named instead of silently falling back to a default.
///
/// It remembers every key it was asked for: a key in the configuration file that nothing asked
/// for is a typo, and stops start-up rather than being ignored.
struct SettingsReader {
    let reader: ConfigReader
    let askedFor = AskedForKeys()

    /// The keys looked up so far. A class, so that the readers a configuration passes around
    /// share one list; it is only ever used by the one thread reading the configuration.
    final class AskedForKeys {
        private(set) var keys: Set<String> = []

        func insert(_ key: String) {
            keys.insert(key)
        }
    }

    func optionalString(_ key: String) throws(ConfigurationError) -> String? {
        askedFor.insert(key)
        return reader.string(forKey: ConfigKey(key))
    }

    /// A credential, given as `key` or read from the file named by `key_file`; never logged.
    func secret(_ key: String) throws(ConfigurationError) -> String? {
        askedFor.insert(key)
        askedFor.insert(key + "_file")
        if let value = reader.string(forKey: ConfigKey(key), isSecret: true) { return value }
        guard let path = reader.string(forKey: ConfigKey(key + "_file")) else { return nil }
        do {
            return try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw ConfigurationError(key: key + "_file", problem: "cannot read \(path)")
        }
    }

    /// A 256-bit key, given in base64 as ``secret(_:)`` reads it; nil when not set.
    func key256(_ key: String) throws(ConfigurationError) -> [UInt8]? {
        guard let text = try secret(key) else { return nil }
        guard let bytes = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == 32 else {
            throw ConfigurationError(key: key, problem: "must be 32 bytes in base64 (openssl rand -base64 32)")
        }
        return Array(bytes)
    }

    func string(_ key: String, default defaultValue: String) throws(ConfigurationError) -> String {
        try optionalString(key) ?? defaultValue
    }

    func int(_ key: String, default defaultValue: Int, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        try optionalInt(key, in: range) ?? defaultValue
    }

    /// Nil when the key is not set.
    func optionalInt(_ key: String, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
        try number(key) { raw throws(CheckedNumber.Problem) in try CheckedNumber.integer(raw, in: range) }
    }

    /// Nil when the key is not set.
    func optionalDouble(_ key: String, in range: ClosedRange<Double>) throws(ConfigurationError) -> Double? {
        try number(key) { raw throws(CheckedNumber.Problem) in try CheckedNumber.decimal(raw, in: range) }
    }

    private func number<Value>(
        _ key: String, _ parse: (String) throws(CheckedNumber.Problem) -> Value
    ) throws(ConfigurationError) -> Value? {
        guard let raw = try optionalString(key) else { return nil }
        do {
            return try parse(raw)
        } catch {
            throw ConfigurationError(key: key, problem: error.problem)
        }
    }

    func double(_ key: String, default defaultValue: Double, in range: ClosedRange<Double>) throws(ConfigurationError) -> Double {
        try optionalDouble(key, in: range) ?? defaultValue
    }

    /// A number of seconds as a duration, to the millisecond.
    func seconds(_ key: String, default defaultValue: Double, in range: ClosedRange<Double>) throws(ConfigurationError) -> Duration {
        .milliseconds(try CheckedNumber.milliseconds(seconds: double(key, default: defaultValue, in: range)))
    }

    /// A list, given as `key.0`, `key.1`, ... (a YAML sequence); nil when `key.0` is not set.
    func optionalStrings(_ key: String) throws(ConfigurationError) -> [String]? {
        var values: [String] = []
        for index in 0... {
            guard let value = try optionalString("\(key).\(index)") else { break }
            values.append(value)
        }
        return values.isEmpty ? nil : values
    }

    func bool(_ key: String, default defaultValue: Bool) throws(ConfigurationError) -> Bool {
        guard let raw = try optionalString(key) else { return defaultValue }
        switch raw.trimmingCharacters(in: .whitespaces).lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw ConfigurationError(key: key, problem: "must be true or false, not '\(raw)'")
        }
    }
}
