import Foundation

/// A peer from `scripts/peers/`, run by a test: started with `--port-file`, given to the test's
/// body once it wrote its port, and killed when the body returns.
public enum ScriptPeer {
    /// The path of `scripts/peers/NAME`.
    public static func path(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/peers/\(name)").path
    }

    static func with<Result>(_ script: String, _ arguments: [String], _ body: (Int) async throws -> Result) async throws -> Result {
        let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("\(script)-\(UUID().uuidString).port")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", path(script)] + arguments + ["--port-file", portFile.path]
        try process.run()
        defer {
            // SIGKILL: a child of the test runner may not hear SIGTERM.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            try? FileManager.default.removeItem(at: portFile)
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while (try? String(contentsOf: portFile, encoding: .utf8)) == nil {
            guard process.isRunning, ContinuousClock.now < deadline else { throw TestFailure("\(script) did not start") }
            try await Task.sleep(for: .milliseconds(20))
        }
        guard let port = Int(try String(contentsOf: portFile, encoding: .utf8)) else { throw TestFailure("\(script) wrote no port") }
        return try await body(port)
    }
}

/// `scripts/peers/https_files.py`: a directory served over HTTPS on a free loopback port.
public struct HTTPSFileServer: Sendable {
    public let port: Int
    let requestLog: URL

    /// The paths of the GET requests it answered so far.
    public func requests() -> [String] {
        ((try? String(contentsOf: requestLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// Serves `directory` with the certificate and key (PEM files) while `body` runs.
    public static func with<Result>(
        directory: URL, certificate: String, key: String, _ body: (HTTPSFileServer) async throws -> Result
    ) async throws -> Result {
        let requestLog = directory.appendingPathComponent("requests-\(UUID().uuidString).log")
        return try await ScriptPeer.with(
            "https_files.py", ["--directory", directory.path, "--cert", certificate, "--key", key, "--requests", requestLog.path]
        ) { port in try await body(HTTPSFileServer(port: port, requestLog: requestLog)) }
    }
}

/// A self-signed certificate for 127.0.0.1 and its RSA key, made with openssl.
public enum TestCertificate {
    public static func make(in directory: URL, name: String = "cert") throws -> (certificate: String, key: String) {
        let certificate = directory.appendingPathComponent("\(name).pem").path
        let key = directory.appendingPathComponent("\(name)-key.pem").path
        let openssl = try Command.run(
            "openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", certificate,
            ])
        guard openssl.status == 0 else { throw TestFailure("openssl could not make a certificate: \(openssl.errors)") }
        return (certificate, key)
    }
}

/// `scripts/peers/webhook_receiver.py`: receives webhooks on a free loopback port and verifies
/// each with PyPI's `standardwebhooks`.
public struct WebhookReceiver: Sendable {
    /// One request as the receiver saw it.
    public struct Received: Decodable, Sendable {
        public let id: String?
        public let timestamp: String?
        public let signature: String?
        public let body: String
        public let verified: Bool
        public let status: Int

        /// The body's `type`.
        public var type: String? {
            ((try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any])?["type"] as? String
        }
    }

    public let port: Int
    let log: URL
    let secretFile: URL

    public var url: String { "http://127.0.0.1:\(port)/hooks" }

    /// Verifies the requests from now on with `secret`.
    public func trust(_ secret: String) throws {
        try secret.write(to: secretFile, atomically: true, encoding: .utf8)
    }

    /// Every request so far, in the order they came.
    public func received() -> [Received] {
        ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            try? JSONDecoder().decode(Received.self, from: Data($0.utf8))
        }
    }

    /// Runs `body` with a receiver that checks signatures with the secret given to
    /// ``trust(_:)`` and answers the verified requests with `answers` in turn (see the script:
    /// `500`, `429+3`, `slow+2`, `drop`), then 200.
    public static func with<Result>(
        answers: [String] = [], in directory: URL, _ body: (WebhookReceiver) async throws -> Result
    ) async throws -> Result {
        let name = UUID().uuidString
        let log = directory.appendingPathComponent("webhooks-\(name).jsonl")
        let secretFile = directory.appendingPathComponent("webhooks-\(name).secret")
        try "whsec_dW5zZXQ=".write(to: secretFile, atomically: true, encoding: .utf8)
        return try await ScriptPeer.with(
            "webhook_receiver.py",
            ["--secret-file", secretFile.path, "--log", log.path, "--answers", answers.joined(separator: ",")]
        ) { port in try await body(WebhookReceiver(port: port, log: log, secretFile: secretFile)) }
    }
}
