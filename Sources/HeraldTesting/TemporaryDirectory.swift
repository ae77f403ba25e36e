import Foundation

/// A directory that exists for the duration of `body` and is removed afterwards.
public func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async rethrows -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("herald-test-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try await body(url)
}

/// A tmpfs of `megabytes` mounted in a new folder of `directory` while `body` runs, for tests
/// that fill a disk; unmounted afterwards. Mounting needs root, as `scripts/test` runs; without
/// it the test fails with that said rather than passing.
public func withSmallDisk<T>(megabytes: Int, in directory: URL, _ body: (URL) async throws -> T) async throws -> T {
    let mount = directory.appendingPathComponent("small-disk-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: mount, withIntermediateDirectories: true)
    let mounted = try Command.run("mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", mount.path])
    guard mounted.status == 0 else {
        throw TestFailure("this test mounts a small tmpfs and needs root, as scripts/test runs: \(mounted.errors)")
    }
    defer { _ = try? Command.run("umount", ["-l", mount.path]) }
    return try await body(mount)
}

/// Fills the disk that holds `directory` with a file of zeros until it has no space left, and
/// returns the file, whose removal gives the space back.
@discardableResult
public func fillDisk(in directory: URL) throws -> URL {
    let filler = directory.appendingPathComponent("filler")
    let filled = try Command.run("dd", ["if=/dev/zero", "of=\(filler.path)", "bs=64k"])
    guard filled.errors.contains("No space left") else { throw TestFailure("dd did not fill the disk: \(filled.errors)") }
    return filler
}
