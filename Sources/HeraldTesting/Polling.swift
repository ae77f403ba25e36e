/// Checks `condition` every 100 ms until it holds, and throws once `timeout` has passed
/// without it; the failure says what `state` describes then, so that a test that times out
/// on a slow machine shows where it stood.
public func waitUntil(
    timeout: Duration, _ condition: () async throws -> Bool, state: () async throws -> String = { "" }
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else {
            let described = (try? await state()) ?? "(could not describe the state)"
            throw TestFailure("not reached within \(timeout)\(described.isEmpty ? "" : ": \(described)")")
        }
        try await Task.sleep(for: .milliseconds(100))
    }
}
