import HeraldCore

/// What the API may see and change of the providers, without knowing their concrete types.
public protocol ProviderAdministration: Sendable {
    func statuses() -> [ProviderStatus]
    /// The option keys that the providers with this name or type read; nil when no configured
    /// provider has this name or type.
    func supportedOptions(forProvider nameOrType: String) -> Set<String>?
    /// Changes a sandbox provider's behaviour. Throws ``APIError`` 404 for an unknown name and
    /// 409 for a provider that is not a sandbox.
    func updateSandbox(named name: String, to behavior: SandboxBehavior) throws(APIError)
    /// Pauses or resumes a provider by hand, kept across restarts, and returns its status.
    /// Throws ``APIError`` 404 for an unknown name.
    func setPaused(_ paused: Bool, provider name: String) async throws -> ProviderStatus
    /// The providers whose events come to `/events/{name}`, by name.
    var eventReceivers: [String: any ProviderEventReceiver] { get }
}
