import Crypto
import Foundation
import HeraldCore

/// Console sessions, carried whole in a cookie that Herald signs (HMAC-SHA256 under a key of
/// this process), so that no session is stored: `<key id>.<expiry ms>.<nonce>.<signature>`. The
/// key itself never leaves the sign-in form. Every request looks the key up again, so a revoked
/// key ends its sessions at the next request; a restart ends them all.
///
/// Each session has a CSRF token of its own, derived from the cookie under the same key:
/// every form carries it, and a post whose token does not match the session's is refused.
struct ConsoleSessions: Sendable {
    struct Session: Sendable {
        let keyID: String
        let expires: Date
        /// The cookie's value, from which the CSRF token is derived.
        let cookie: String
    }

    static let cookieName = "herald_console"
    let lifetime: Duration
    private let signingKey: SymmetricKey

    init(lifetime: Duration = .seconds(8 * 3600), signingKey: SymmetricKey = SymmetricKey(size: .bits256)) {
        self.lifetime = lifetime
        self.signingKey = signingKey
    }

    /// A new session's cookie value for the key `keyID`, from `now` for ``lifetime``.
    func start(keyID: String, now: Date) -> Session {
        let expires = now.adding(lifetime)
        var generator = SystemRandomNumberGenerator()
        let nonce = Self.base64URL((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        let content = "\(keyID).\(expires.milliseconds).\(nonce)"
        return Session(keyID: keyID, expires: expires, cookie: "\(content).\(signature(of: content))")
    }

    /// The session a cookie carries, if Herald signed it and it has not expired.
    func session(fromCookie value: String, now: Date) -> Session? {
        let parts = value.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, let milliseconds = Int64(parts[1]) else { return nil }
        let content = parts[0...2].joined(separator: ".")
        guard constantTimeEqual(Array(parts[3].utf8), Array(signature(of: content).utf8)) else { return nil }
        let expires = Date(milliseconds: milliseconds)
        guard expires > now else { return nil }
        return Session(keyID: String(parts[0]), expires: expires, cookie: value)
    }

    /// The token every form of `session` carries.
    func csrfToken(for session: Session) -> String {
        signature(of: "csrf:" + session.cookie)
    }

    /// Whether `token` is `session`'s CSRF token.
    func isValidCSRFToken(_ token: String?, for session: Session) -> Bool {
        guard let token else { return false }
        return constantTimeEqual(Array(token.utf8), Array(csrfToken(for: session).utf8))
    }

    private func signature(of content: String) -> String {
        Self.base64URL(Array(HMAC<SHA256>.authenticationCode(for: Array(content.utf8), using: signingKey)))
    }

    /// Cookie-safe base64: URL alphabet, no padding.
    private static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

}
