import Configuration
import Foundation

extension HeraldConfiguration {
    /// Reads a process's settings: command-line flags over `HERALD_*` environment variables over
    /// the configuration file (`--config`, or `HERALD_CONFIG`), and fails closed.
    ///
    /// A key in the file that Herald does not know stops start-up with the closest known key
    /// named, and so does a file without providers: a typo must never leave Herald delivering
    /// real mail to the built-in sandboxes, which discard it. Those run only when there is no
    /// file and no `HERALD_PROVIDERS_*` variable at all (``usesBuiltInSandboxes``).
    public init(flags: [String: String], environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) {
        let flagValues = Dictionary(
            uniqueKeysWithValues: flags.map { (AbsoluteConfigKey(ConfigKey($0.key)), ConfigValue(.string($0.value), isSecret: false)) })
        var providers: [any ConfigProvider] = [
            InMemoryProvider(name: "flags", values: flagValues),
            EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: ["herald"]),
        ]
        let file = try (flags["config"] ?? environment["HERALD_CONFIG"]).map { path throws(ConfigurationError) in
            try ConfigFile(path: path)
        }
        if let file { providers.append(file.provider) }

        let settings = SettingsReader(reader: ConfigReader(providers: providers))
        try self.init(settings: settings)
        if let file {
            try Self.rejectUnknownKeys(in: file, known: settings.askedFor.keys)
        }
        guard self.providers.isEmpty else { return }
        if let file {
            throw ConfigurationError(
                key: "providers", problem: "\(file.path) lists no providers; add at least one (docs/configuration.md#providers)")
        }
        if let variable = environment.keys.sorted().first(where: { $0.hasPrefix("HERALD_PROVIDERS_") }) {
            throw ConfigurationError(key: "providers", problem: "\(variable) is set, but no provider has both a name and a type")
        }
        self.providers = Self.builtInSandboxes
        usesBuiltInSandboxes = true
    }

    /// Throws for the first key of `file` (in key order) that no setting asked for, naming the
    /// shallowest unknown part: `provider.0.name` is reported as `provider`, with `providers`
    /// as the suggestion.
    static func rejectUnknownKeys(in file: ConfigFile, known: Set<String>) throws(ConfigurationError) {
        let knownPaths = known.map { $0.split(separator: ".").map(String.init) }
        var knownPrefixes: Set<[String]> = []
        for path in knownPaths {
            for length in 1...path.count { knownPrefixes.insert(Array(path.prefix(length))) }
        }
        for key in file.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            guard let unknownLength = (1...key.count).first(where: { !knownPrefixes.contains(Array(key.prefix($0))) }) else {
                continue
            }
            let parent = Array(key.prefix(unknownLength - 1))
            let name = key[unknownLength - 1]
            let siblings = Set(knownPrefixes.filter { $0.count == unknownLength && Array($0.dropLast()) == parent }.map { $0.last! })
            let unknownKey = (parent + [name]).joined(separator: ".")
            guard let suggestion = closest(to: name, among: siblings) else {
                throw ConfigurationError(key: unknownKey, problem: "unknown key in \(file.path)")
            }
            throw ConfigurationError(
                key: unknownKey, problem: "unknown key; did you mean \((parent + [suggestion]).joined(separator: "."))?")
        }
    }

    /// The candidate fewest edits away from `word`, if it is near enough to be a typo of it.
    static func closest(to word: String, among candidates: Set<String>) -> String? {
        let best = candidates.sorted().map { (candidate: $0, distance: editDistance(word, $0)) }.min { $0.distance < $1.distance }
        guard let best, best.distance <= max(2, word.count / 3) else { return nil }
        return best.candidate
    }

    /// Levenshtein distance: insertions, deletions and substitutions of characters.
    static func editDistance(_ first: String, _ second: String) -> Int {
        let first = Array(first.lowercased())
        let second = Array(second.lowercased())
        var previous = Array(0...second.count)
        for (row, character) in first.enumerated() {
            var current = [row + 1]
            for (column, other) in second.enumerated() {
                current.append(min(previous[column + 1] + 1, current[column] + 1, previous[column] + (character == other ? 0 : 1)))
            }
            previous = current
        }
        return previous[second.count]
    }
}
