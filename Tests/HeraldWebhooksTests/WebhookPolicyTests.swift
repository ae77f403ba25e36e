import Crypto
import Foundation
import HeraldCore
import Testing

@testable import HeraldWebhooks

@Suite("Webhook retries, targets and signatures")
struct WebhookPolicyTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func next(_ number: Int, _ answer: WebhookRetryPolicy.Answer, failingSince: Date? = nil) -> WebhookAttempt.Next {
        var generator = SystemRandomNumberGenerator()
        return WebhookRetryPolicy.standard.next(
            afterAttempt: number, answer: answer, now: now, failingSince: failingSince, using: &generator)
    }

    func wait(_ next: WebhookAttempt.Next) -> TimeInterval? {
        guard case .retry(let at) = next else { return nil }
        return at.timeIntervalSince(now)
    }

    @Test func `retries after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h within a tenth, then gives up`() {
        let expected: [TimeInterval] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000]
        for (index, seconds) in expected.enumerated() {
            let waited = try? #require(wait(next(index + 1, .status(500, retryAfter: nil))))
            #expect(
                waited.map { $0 >= seconds * 0.9 && $0 <= seconds * 1.1 } == true,
                "after attempt \(index + 1): \(String(describing: waited))")
        }
        #expect(next(8, .none) == .failed(disableEndpoint: nil))
    }

    @Test func `a 2xx delivers, a 410 disables, Retry-After is honoured, five failing days disable`() {
        #expect(next(1, .status(204, retryAfter: nil)) == .delivered)
        #expect(next(3, .status(410, retryAfter: nil)) == .failed(disableEndpoint: "the endpoint answered 410 Gone"))
        #expect((wait(next(1, .status(429, retryAfter: .seconds(120)))) ?? 0) >= 120)
        #expect((wait(next(1, .status(500, retryAfter: .seconds(120)))) ?? 999) <= 5.5, "Retry-After counts on 429 and 503 only")
        #expect(
            next(2, .none, failingSince: now.addingTimeInterval(-5 * 86_400)) == .failed(disableEndpoint: "every attempt failed for 5 days")
        )
        #expect(wait(next(2, .none, failingSince: now.addingTimeInterval(-4 * 86_400))) != nil)
    }

    @Test(arguments: [
        ("http://127.0.0.1/x", false), ("https://10.1.2.3/", false), ("https://169.254.169.254/latest", false), ("https://[::1]/", false),
        ("https://[fd00::1]/", false), ("https://[::ffff:192.168.1.1]/", false), ("https://localhost:8080/", false),
        ("https://172.20.0.1/", false), ("ftp://hooks.example/", false), ("https://user:pass@hooks.example/", false),
        ("https://hooks.example/in", true), ("https://93.184.216.34/", true), ("https://172.32.0.1/", true),
        // IPv4 inside IPv6 through NAT64 and 6to4, and ranges no endpoint has.
        ("https://[64:ff9b::a00:1]/", false), ("https://[2002:a00:1::]/", false), ("https://[64:ff9b::5db8:d822]/", true),
        ("https://[2002:5db8:d822::1]/", true), ("https://198.18.0.1/", false), ("https://192.0.0.8/", false),
        ("https://224.0.0.1/", false), ("https://255.255.255.255/", false), ("https://[ff02::1]/", false),
        ("https://[2606:4700::1111]/", true),
    ])
    func `refuses loopback, private, link-local and odd targets unless allowed`(url: String, allowed: Bool) {
        let passed = (try? WebhookTarget.check(url, allowPrivate: false)) != nil
        #expect(passed == allowed)
        #expect((try? WebhookTarget.check(url, allowPrivate: true)) != nil || url.hasPrefix("ftp") || url.contains("@"))
    }

    @Test func `signs id, timestamp and body with each key, as Standard Webhooks says`() throws {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        let key = try #require(WebhookSignature.key(ofSecret: secret))
        let body = Array(#"{"test": 2432232314}"#.utf8)
        // The example of the specification's reference libraries.
        #expect(
            WebhookSignature.header(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: body, keys: [key])
                == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        #expect(WebhookSignature.header(id: "m", timestamp: 1, body: [], keys: [key, key]).split(separator: " ").count == 2)
        #expect(WebhookSignature.key(ofSecret: "nope") == nil)
        #expect(WebhookSignature.key(ofSecret: WebhookSignature.newSecret()) != nil)
    }

    @Test func `sealed secrets open only under their key`() throws {
        let sealer = try #require(SecretSealer(key: Array(repeating: 7, count: 32)))
        let sealed = try sealer.seal("whsec_abc")
        #expect(try sealer.open(sealed) == "whsec_abc")
        #expect(!String(decoding: sealed, as: UTF8.self).contains("whsec_abc"))
        #expect(sealed.count == "whsec_abc".utf8.count + 12 + 16, "a nonce and a tag of its own")
        let other = try #require(SecretSealer(key: Array(repeating: 8, count: 32)))
        #expect(throws: (any Error).self) { try other.open(sealed) }
        #expect(SecretSealer(key: [1, 2, 3]) == nil)
    }
}
