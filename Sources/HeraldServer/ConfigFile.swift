import Configuration
import Foundation
import Yams

/// Reads a YAML or JSON configuration file into flat keys for swift-configuration.
///
/// swift-configuration's own file snapshots hold scalars and arrays of scalars only, and
/// Herald's `providers` is a list of objects. Lists are therefore flattened by position:
/// `providers[0].name` becomes the key `providers.0.name`, which environment variables can
/// override too (`HERALD_PROVIDERS_0_NAME`). Every value is kept as a string; Herald parses
/// it, so that a bad value is reported with its key whichever source it came from.
struct ConfigFile {
    let path: String
    /// Every key the file sets, as its components (`["providers", "0", "name"]`).
    let keys: [[String]]
    let provider: InMemoryProvider

    init(path: String) throws(ConfigurationError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(key: "config", problem: "cannot read \(path)")
        }
        let document: Any?
        do {
            // YAML is a superset of JSON, so one parser reads both.
            document = try Yams.load(yaml: text)
        } catch {
            throw ConfigurationError(key: "config", problem: "\(path) is not valid YAML or JSON: \(error)")
        }
        guard let root = document as? [String: Any] else {
            throw ConfigurationError(key: "config", problem: "\(path) must hold a mapping of settings at its top level")
        }
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        Self.flatten(root, path: [], into: &values)
        self.path = path
        self.keys = values.keys.map(\.components)
        self.provider = InMemoryProvider(name: "file \(path)", values: values)
    }

    private static func flatten(_ value: Any, path: [String], into values: inout [AbsoluteConfigKey: ConfigValue]) {
        switch value {
        case let map as [String: Any]:
            for (key, child) in map { flatten(child, path: path + [key], into: &values) }
        case let list as [Any]:
            for (index, child) in list.enumerated() { flatten(child, path: path + [String(index)], into: &values) }
        case is NSNull:
            break
        default:
            values[AbsoluteConfigKey(path)] = ConfigValue(.string("\(value)"), isSecret: false)
        }
    }
}
