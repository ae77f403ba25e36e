/// Whether two secrets (or their digests) are equal, in time that depends on their lengths only,
/// so that timing does not tell an attacker how much of a guess was right.
public func constantTimeEqual(_ left: some Collection<UInt8>, _ right: some Collection<UInt8>) -> Bool {
    guard left.count == right.count else { return false }
    var difference: UInt8 = 0
    for (a, b) in zip(left, right) { difference |= a ^ b }
    return difference == 0
}
