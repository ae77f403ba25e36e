import Foundation
import HeraldCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Writes each email as an RFC 5322 `.eml` file named `<email id>.<attempt>.eml`, for
/// development and for checking what Herald would send.
///
/// A file appears whole or not at all (written to a temporary name, synced, renamed, and the
/// directory synced), so a file that exists is a delivery that happened. The writes block, so
/// they run on NIO's thread pool rather than on the thread of the task that sends.
public struct FileProvider: EmailProvider {
    public let name: String
    public var kind: String { "file" }
    public let directory: URL

    public init(name: String, directory: URL) throws {
        self.name = name
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// Writes and removes a probe file, to show that the directory takes files.
    public func verify() async throws -> Bool {
        let probe = ".herald-check-\(UInt32.random(in: 0...UInt32.max))"
        do {
            try await NIOThreadPool.singleton.runIfActive { [self] in
                try writeDurably([], to: probe)
                try FileManager.default.removeItem(at: directory.appendingPathComponent(probe))
            }
            return true
        } catch {
            throw ProviderFailure(.providerFatal, code: "file_not_writable", message: "cannot write into \(directory.path)")
        }
    }

    public func send(_ delivery: Delivery) async throws -> ProviderReceipt {
        let filename = "\(delivery.emailID).\(delivery.attempt).eml"
        let contents = MIMEMessage.render(delivery.message, emailID: delivery.emailID, date: delivery.acceptedAt)
        do {
            try await NIOThreadPool.singleton.runIfActive { [self] in try writeDurably(contents, to: filename) }
        } catch let error as POSIXFailure {
            throw ProviderFailure(
                .transient, code: "file_write_failed",
                message: "could not write the message: \(error.operation) failed with errno \(error.errno)")
        }
        return ProviderReceipt(providerMessageID: filename)
    }

    private struct POSIXFailure: Error {
        let operation: String
        let errno: Int32
    }

    private func writeDurably(_ bytes: [UInt8], to filename: String) throws {
        let temporary = directory.appendingPathComponent(".\(filename).\(UInt32.random(in: 0...UInt32.max)).tmp").path
        let final = directory.appendingPathComponent(filename).path
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw POSIXFailure(operation: "open", errno: errno) }
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard result > 0 else {
                let code = errno
                close(descriptor)
                unlink(temporary)
                throw POSIXFailure(operation: "write", errno: code)
            }
            written += result
        }
        guard fsync(descriptor) == 0 else {
            let code = errno
            close(descriptor)
            unlink(temporary)
            throw POSIXFailure(operation: "fsync", errno: code)
        }
        close(descriptor)
        guard rename(temporary, final) == 0 else {
            let code = errno
            unlink(temporary)
            throw POSIXFailure(operation: "rename", errno: code)
        }
        let directoryDescriptor = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryDescriptor >= 0 else { throw POSIXFailure(operation: "open directory", errno: errno) }
        defer { close(directoryDescriptor) }
        guard fsync(directoryDescriptor) == 0 else { throw POSIXFailure(operation: "fsync directory", errno: errno) }
    }
}
