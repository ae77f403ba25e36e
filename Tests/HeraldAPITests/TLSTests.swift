import AsyncHTTPClient
import Foundation
import HeraldAPI
import HeraldCore
import HeraldDelivery
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
    @Test func `serves HTTPS when certificate and key files are configured`() async throws {
        try await withTemporaryDirectory { directory in
            let (certificate, key) = try TestCertificate.make(in: directory)
            var configuration = HeraldConfiguration()
            configuration.http.port = 0
            configuration.http.tls = (certificate, key)
            let store = try SQLiteEmailStore.open(path: directory.appendingPathComponent("herald.db").path)
            let providers = try ProviderRegistry(configuration: configuration, store: store, clock: SystemWallClock(), httpClient: .shared)
            let metrics = HeraldServer.makeMetricsFactory()
            let events = ProviderEventIngest(
                store: store, policy: .init(), clock: SystemWallClock(), metricsFactory: metrics, logger: Logger(label: "test"))
            let application = try HeraldServer.makeApplication(
                configuration: configuration, store: store, providers: providers, events: events, webhooks: WebhookKeys.forTests,
                state: ServiceState(),
                clock: SystemWallClock(), metrics: metrics, services: [], onAccepted: {}, logger: Logger(label: "test"))
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
