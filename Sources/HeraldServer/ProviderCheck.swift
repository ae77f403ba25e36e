import AsyncHTTPClient
import HeraldCore
import HeraldDelivery
import HeraldProviders

/// The outcome of checking one configured provider without sending mail.
public struct ProviderCheck: Sendable {
    public var name: String
    public var kind: String
    /// Whether the adapter had a way to check the provider at all.
    public var checked = false
    /// nil when the provider is usable.
    public var failure: ProviderFailure?
}

extension HeraldServer {
    /// Checks the credentials and reachability of every configured provider, all at once.
    public static func checkProviders(configuration: HeraldConfiguration) async throws -> [ProviderCheck] {
        let httpClient = makeHTTPClient()
        do {
            let providers = try configuration.providers.map { try ProviderRegistry.makeProvider($0, httpClient: httpClient) }
            let checks = await withTaskGroup(of: (Int, ProviderCheck).self) { group in
                for (index, provider) in providers.enumerated() {
                    group.addTask {
                        var check = ProviderCheck(name: provider.name, kind: provider.kind)
                        do {
                            check.checked = try await provider.verify()
                        } catch let failure as ProviderFailure {
                            check.checked = true
                            check.failure = failure
                        } catch {
                            check.checked = true
                            check.failure = ProviderFailure(.transient, code: "unexpected_error", message: "\(type(of: error))")
                        }
                        return (index, check)
                    }
                }
                var checks: [(Int, ProviderCheck)] = []
                for await check in group { checks.append(check) }
                return checks.sorted { $0.0 < $1.0 }.map(\.1)
            }
            for case let smtp as SMTPProvider in providers { await smtp.shutdown() }
            try await httpClient.shutdown()
            return checks
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
    }
}
