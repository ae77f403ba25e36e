import AsyncHTTPClient
import Foundation
import HeraldAPI
import HeraldCore
import HeraldStoreSQLite
import HeraldTesting
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import HeraldServer

@Suite("HTTPS listener")
struct TLSTests {
    /// A self-signed certificate for 127.0.0.1, made with openssl (which scripts/test installs).
    static func makeCertificate(in directory: URL) throws -> (certificate: String, key: String) {
        let certificate = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let openssl = try Command.run(
            "openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", certificate,
            ])
        guard openssl.status == 0 else { throw TestFailure("openssl could not make a certificate: \(openssl.errors)") }
        return (certificate, key)
    }

    @Test func `serves HTTPS when certificate and key files are configured`() async throws {
        try await withTemporaryDirectory { directory in
            let (certificate, key) = try Self.makeCertificate(in: directory)
            var configuration = HeraldConfiguration()
            configuration.http.port = 0
            configuration.http.tls = (certificate, key)
            let store = try SQLiteEmailStore.open(path: directory.appendingPathComponent("herald.db").path)
            let providers = try ProviderRegistry(configuration: configuration, store: store, clock: SystemWallClock(), httpClient: .shared)
            let application = try HeraldServer.makeApplication(
                configuration: configuration, store: store, providers: providers, state: ServiceState(), clock: SystemWallClock(),
                metrics: HeraldServer.makeMetricsFactory(), services: [], onAccepted: {}, logger: Logger(label: "test"))
            try await application.test(.ahc(.https)) { client in
                let response = try await client.execute(uri: "/healthz", method: .get)
                #expect(response.status == .ok)
            }
        }
    }

    @Test func `needs both the certificate and the key file`() async throws {
        do {
            _ = try HeraldConfiguration(flags: ["http.tls_cert_file": "/tmp/cert.pem"], environment: [:])
            Issue.record("a certificate without its key must be refused")
        } catch {
            #expect(error.key == "http.tls_key_file")
        }
    }
}
