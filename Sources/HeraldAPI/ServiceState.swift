import Synchronization

/// Whether this process is winding down. Once it is, `/readyz` answers 503 so that load
/// balancers move away, and new emails are refused with 503 rather than accepted late.
public final class ServiceState: Sendable {
    private let draining = Atomic<Bool>(false)

    public init() {}

    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    public func startDraining() {
        draining.store(true, ordering: .relaxed)
    }
}
