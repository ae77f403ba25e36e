import AsyncHTTPClient
import Foundation
import HeraldCore
import NIOCore
import NIOHTTP1
import SwiftASN1
import Synchronization
import X509

/// Checks an Amazon SNS message's signature, as AWS documents it
/// (https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html):
///
/// - `SigningCertURL` must be `https`, on an allowed host (`sns.<region>.amazonaws.com` by
///   default), and end in `.pem`; the certificate is fetched from there once and cached.
/// - The signed string is `Name\nvalue\n` for each of the type's fields in order, the last
///   one with its newline too: for a `Notification` `Message`, `MessageId`, `Subject` (only
///   when present), `Timestamp`, `TopicArn`, `Type`; for a `SubscriptionConfirmation` or
///   `UnsubscribeConfirmation` `Message`, `MessageId`, `SubscribeURL`, `Timestamp`, `Token`,
///   `TopicArn`, `Type`.
/// - `SignatureVersion` 1 is SHA1withRSA, 2 SHA256withRSA; `Signature` is base64.
final class SNSMessageVerifier: Sendable {
    let allowedHosts: Set<String>
    private let client: HTTPClient
    private let certificates = Mutex<[String: Certificate]>([:])

    /// Certificates kept at most; SNS signs with a few at a time.
    static let cachedCertificates = 32

    init(allowedHosts: Set<String>, client: HTTPClient) {
        self.allowedHosts = allowedHosts
        self.client = client
    }

    func verify(_ message: [String: Any]) async throws(EventRejection) {
        guard let type = message["Type"] as? String, let signatureText = message["Signature"] as? String,
            let certificateURL = message["SigningCertURL"] as? String
        else { throw EventRejection(.unauthenticated, "the message is not signed") }
        let algorithm: Certificate.SignatureAlgorithm
        switch message["SignatureVersion"] as? String {
        case "1": algorithm = .sha1WithRSAEncryption
        case "2": algorithm = .sha256WithRSAEncryption
        default: throw EventRejection(.unauthenticated, "the SignatureVersion is neither 1 nor 2")
        }
        guard let signature = Data(base64Encoded: signatureText) else {
            throw EventRejection(.unauthenticated, "the Signature is not base64")
        }
        let fields: [String]
        switch type {
        case "Notification": fields = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        case "SubscriptionConfirmation", "UnsubscribeConfirmation":
            fields = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
        default: throw EventRejection(.malformed, "the message type is not one SNS sends")
        }
        var signed = ""
        for field in fields {
            guard let value = message[field] as? String else {
                if field == "Subject" { continue }
                throw EventRejection(.malformed, "the message has no \(field)")
            }
            signed += "\(field)\n\(value)\n"
        }
        let certificate = try await certificate(at: certificateURL)
        guard certificate.publicKey.isValidSignature(signature, for: Array(signed.utf8), signatureAlgorithm: algorithm) else {
            throw EventRejection(.unauthenticated, "the signature does not match the message")
        }
    }

    /// Whether `url` is `https` on an allowed host; the only URLs Herald fetches for SNS.
    func isAllowed(_ url: URL) -> Bool {
        guard url.scheme == "https", let host = url.host?.lowercased() else { return false }
        let authority = url.port.map { "\(host):\($0)" } ?? host
        return allowedHosts.contains(authority)
    }

    private func certificate(at text: String) async throws(EventRejection) -> Certificate {
        guard let url = URL(string: text), isAllowed(url), url.path.hasSuffix(".pem") else {
            throw EventRejection(.unauthenticated, "the SigningCertURL is not an https .pem URL on an allowed host")
        }
        if let cached = certificates.withLock({ $0[text] }) { return cached }
        let pem: String
        do {
            pem = String(decoding: try await get(url), as: UTF8.self)
        } catch {
            throw EventRejection(.unauthenticated, "the signing certificate could not be fetched")
        }
        guard let certificate = try? Certificate(pemEncoded: pem) else {
            throw EventRejection(.unauthenticated, "the signing certificate is not a PEM certificate")
        }
        certificates.withLock { cache in
            if cache.count >= Self.cachedCertificates { cache.removeAll() }
            cache[text] = certificate
        }
        return certificate
    }

    /// GETs `url` (never following a redirect) and returns its body, at most 64 KiB; throws
    /// unless the answer is 200.
    func get(_ url: URL) async throws -> [UInt8] {
        let response = try await client.execute(HTTPClientRequest(url: url.absoluteString), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 64 * 1024)
        guard response.status == .ok else { throw EventRejection(.unauthenticated, "answered \(response.status.code)") }
        return Array(body.readableBytesView)
    }
}
