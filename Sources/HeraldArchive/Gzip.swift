import CZlib
import Crypto

#if canImport(Glibc)
import Glibc
#endif

/// A gzip file written as it goes (RFC 1952, through zlib), with the SHA-256 of the bytes
/// that reach the file. The file is created new (never over another) and readable by its owner
/// only; ``finish()`` flushes it to disk.
final class GzipFileWriter {
    private var stream = z_stream()
    private let descriptor: Int32
    private var hash = SHA256()
    private var output = [UInt8](repeating: 0, count: 64 * 1024)
    private(set) var compressedBytes = 0
    let path: String

    init(path: String) throws(ArchiveError) {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw ArchiveError.system("cannot create \(path)", errno) }
        // 15 bits of window, plus 16: a gzip header and trailer rather than zlib's.
        let status = deflateInit2_(
            &stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
            Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            close(descriptor)
            throw ArchiveError.compression("deflateInit2 failed with \(status)")
        }
    }

    deinit {
        deflateEnd(&stream)
        if descriptor >= 0 { close(descriptor) }
    }

    func write(_ bytes: [UInt8]) throws(ArchiveError) {
        try deflate(bytes, flush: Z_NO_FLUSH)
    }

    /// Ends the gzip stream, writes the rest and syncs the file; returns the file's SHA-256.
    func finish() throws(ArchiveError) -> SHA256.Digest {
        try deflate([], flush: Z_FINISH)
        guard fsync(descriptor) == 0 else { throw ArchiveError.system("cannot sync \(path)", errno) }
        return hash.finalize()
    }

    private func deflate(_ input: [UInt8], flush: Int32) throws(ArchiveError) {
        var input = input
        let outputSize = output.count
        let result: Result<Void, ArchiveError> = input.withUnsafeMutableBufferPointer { inputBuffer in
            output.withUnsafeMutableBufferPointer { outputBuffer in
                stream.next_in = inputBuffer.baseAddress
                stream.avail_in = UInt32(inputBuffer.count)
                repeat {
                    stream.next_out = outputBuffer.baseAddress
                    stream.avail_out = UInt32(outputSize)
                    let status = CZlib.deflate(&stream, flush)
                    guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                        return .failure(ArchiveError.compression("deflate failed with \(status)"))
                    }
                    let produced = outputSize - Int(stream.avail_out)
                    if produced > 0 {
                        let chunk = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(outputBuffer)[0..<produced])
                        if case .failure(let error) = writeAll(chunk) { return .failure(error) }
                        hash.update(bufferPointer: chunk)
                        compressedBytes += produced
                    }
                } while stream.avail_out == 0 || (flush == Z_FINISH && stream.avail_in > 0)
                return .success(())
            }
        }
        try result.get()
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) -> Result<Void, ArchiveError> {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return .failure(ArchiveError.system("cannot write \(path)", errno))
            }
            offset += written
        }
        return .success(())
    }
}

/// Reads a gzip file back: its SHA-256, and its content line by line, as the archive's checks
/// need. Several gzip members one after another read as one stream, as `gunzip` reads them.
enum GzipFileReader {
    /// Calls `line` with each line of the decompressed content (without its newline), and
    /// returns the SHA-256 of the file's bytes.
    static func read(path: String, line: ([UInt8]) throws -> Void) throws -> SHA256.Digest {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ArchiveError.system("cannot open \(path)", errno) }
        defer { close(descriptor) }
        var stream = z_stream()
        // 15 bits of window, plus 32: a gzip or zlib header, whichever it is.
        guard inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ArchiveError.compression("inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        var hash = SHA256()
        var input = [UInt8](repeating: 0, count: 64 * 1024)
        var output = [UInt8](repeating: 0, count: 256 * 1024)
        var pending: [UInt8] = []
        var ended = true
        while true {
            let count = input.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ArchiveError.system("cannot read \(path)", errno)
            }
            if count == 0 { break }
            hash.update(data: input[0..<count])
            try input.withUnsafeMutableBufferPointer { inputBuffer in
                stream.next_in = inputBuffer.baseAddress
                stream.avail_in = UInt32(count)
                while stream.avail_in > 0 {
                    ended = false
                    let produced = try output.withUnsafeMutableBufferPointer { outputBuffer in
                        stream.next_out = outputBuffer.baseAddress
                        stream.avail_out = UInt32(outputBuffer.count)
                        let status = inflate(&stream, Z_NO_FLUSH)
                        switch status {
                        case Z_STREAM_END:
                            // The next member, if any, starts afresh.
                            ended = true
                            inflateReset(&stream)
                        case Z_OK, Z_BUF_ERROR: break
                        default: throw ArchiveError.compression("\(path) is not a sound gzip file (inflate: \(status))")
                        }
                        return outputBuffer.count - Int(stream.avail_out)
                    }
                    for byte in output[0..<produced] {
                        if byte == UInt8(ascii: "\n") {
                            try line(pending)
                            pending.removeAll(keepingCapacity: true)
                        } else {
                            pending.append(byte)
                        }
                    }
                }
            }
        }
        guard ended else { throw ArchiveError.compression("\(path) ends in the middle of its gzip stream") }
        if !pending.isEmpty { try line(pending) }
        return hash.finalize()
    }
}
