import Foundation
import HeraldCore
import HeraldTesting
import Testing

@Suite("Circuit breaker")
struct CircuitBreakerTests {
    let clock = ManualClock()
    let configuration = CircuitBreaker.Configuration(
        failureRateThreshold: 0.5, minimumCalls: 4, window: .seconds(10), openDuration: .seconds(30),
        halfOpenProbes: 2, slowCallThreshold: .seconds(2)
    )

    func record(_ breaker: inout CircuitBreaker, _ outcomes: [CircuitBreaker.Outcome], latency: Duration = .milliseconds(10)) {
        for outcome in outcomes {
            let permit = breaker.acquire(now: clock.now)!
            breaker.record(outcome, latency: latency, permit: permit, now: clock.now)
        }
    }

    func open(_ breaker: inout CircuitBreaker) {
        record(&breaker, [.failure, .failure, .failure, .failure])
    }

    @Test func `stays closed below the minimum number of calls however many fail`() {
        var breaker = CircuitBreaker(configuration: configuration)
        record(&breaker, [.failure, .failure, .failure])
        #expect(breaker.state == .closed)
    }

    @Test func `opens when the failure rate reaches the threshold`() {
        var breaker = CircuitBreaker(configuration: configuration)
        record(&breaker, [.success, .success, .failure, .failure])
        #expect(breaker.state == .open(until: clock.now.adding(.seconds(30))))
    }

    @Test func `opens after failures in a row however busy and healthy the window was`() {
        var breaker = CircuitBreaker(configuration: configuration)
        record(&breaker, Array(repeating: .success, count: 500))
        record(&breaker, Array(repeating: .failure, count: configuration.consecutiveFailures - 1))
        #expect(breaker.state == .closed, "4 failures in 504 calls: neither trip has fired yet")
        record(&breaker, [.failure])
        #expect(breaker.state == .open(until: clock.now.adding(.seconds(30))))
    }

    @Test func `a success ends a run of failures`() {
        var breaker = CircuitBreaker(configuration: configuration)
        record(&breaker, Array(repeating: .success, count: 500))
        for _ in 0..<10 {
            record(&breaker, Array(repeating: .failure, count: configuration.consecutiveFailures - 1))
            record(&breaker, [.success])
        }
        #expect(breaker.state == .closed)
    }

    @Test func `stays closed while the failure rate is under the threshold`() {
        var breaker = CircuitBreaker(configuration: configuration)
        record(&breaker, [.success, .success, .success, .failure, .success, .failure])
        #expect(breaker.state == .closed)
    }

    @Test func `forgets failures that have left the window`() {
        var breaker = CircuitBreaker(configuration: configuration)
        record(&breaker, [.failure, .failure, .failure])
        clock.advance(by: .seconds(11))
        record(&breaker, [.failure])
        #expect(breaker.state == .closed)
    }

    @Test func `counts slow successes as failures`() {
        var breaker = CircuitBreaker(configuration: configuration)
        record(&breaker, [.success, .success, .success, .success], latency: .seconds(3))
        #expect(breaker.state != .closed)
    }

    @Test func `refuses calls while open`() {
        var breaker = CircuitBreaker(configuration: configuration)
        open(&breaker)
        clock.advance(by: .seconds(29))
        #expect(breaker.acquire(now: clock.now) == nil)
    }

    @Test func `shows as half-open once the open time has passed, before any call`() {
        var breaker = CircuitBreaker(configuration: configuration)
        open(&breaker)
        #expect(breaker.state(at: clock.now).name == "open")
        clock.advance(by: .seconds(30))
        #expect(breaker.state(at: clock.now) == .halfOpen)
    }

    @Test func `lets a limited number of probes through once the open time has passed`() {
        var breaker = CircuitBreaker(configuration: configuration)
        open(&breaker)
        clock.advance(by: .seconds(30))
        #expect(breaker.acquire(now: clock.now) != nil)
        #expect(breaker.state == .halfOpen)
        #expect(breaker.acquire(now: clock.now) != nil)
        #expect(breaker.acquire(now: clock.now) == nil)
    }

    @Test func `closes when every probe succeeds`() {
        var breaker = CircuitBreaker(configuration: configuration)
        open(&breaker)
        clock.advance(by: .seconds(30))
        let first = breaker.acquire(now: clock.now)!
        let second = breaker.acquire(now: clock.now)!
        breaker.record(.success, latency: .milliseconds(5), permit: first, now: clock.now)
        #expect(breaker.state == .halfOpen)
        breaker.record(.success, latency: .milliseconds(5), permit: second, now: clock.now)
        #expect(breaker.state == .closed)
    }

    @Test func `opens again on a failed probe`() {
        var breaker = CircuitBreaker(configuration: configuration)
        open(&breaker)
        clock.advance(by: .seconds(30))
        let probe = breaker.acquire(now: clock.now)!
        breaker.record(.failure, latency: .milliseconds(5), permit: probe, now: clock.now)
        #expect(breaker.state == .open(until: clock.now.adding(.seconds(30))))
    }

    @Test func `a slow probe counts as a failed probe`() {
        var breaker = CircuitBreaker(configuration: configuration)
        open(&breaker)
        clock.advance(by: .seconds(30))
        let probe = breaker.acquire(now: clock.now)!
        breaker.record(.success, latency: .seconds(5), permit: probe, now: clock.now)
        #expect(breaker.state != .closed && breaker.state != .halfOpen)
    }

    @Test func `a released probe frees its place`() {
        var breaker = CircuitBreaker(configuration: configuration)
        open(&breaker)
        clock.advance(by: .seconds(30))
        let first = breaker.acquire(now: clock.now)!
        _ = breaker.acquire(now: clock.now)!
        breaker.release(first)
        #expect(breaker.acquire(now: clock.now) != nil)
    }

    @Test func `ignores the outcome of a call that began before the breaker changed state`() {
        var breaker = CircuitBreaker(configuration: configuration)
        let stale = breaker.acquire(now: clock.now)!
        open(&breaker)
        clock.advance(by: .seconds(30))
        let probe = breaker.acquire(now: clock.now)!
        breaker.record(.success, latency: .milliseconds(1), permit: stale, now: clock.now)
        breaker.record(.success, latency: .milliseconds(1), permit: stale, now: clock.now)
        #expect(breaker.state == .halfOpen)
        breaker.record(.failure, latency: .milliseconds(1), permit: probe, now: clock.now)
        #expect(breaker.state == .open(until: clock.now.adding(.seconds(30))))
    }

    @Test func `trips open at once`() {
        var breaker = CircuitBreaker(configuration: configuration)
        breaker.trip(now: clock.now)
        #expect(breaker.acquire(now: clock.now) == nil)
    }

    @Test func `starts with an empty window after closing`() {
        var breaker = CircuitBreaker(configuration: configuration)
        open(&breaker)
        clock.advance(by: .seconds(30))
        record(&breaker, [.success, .success])
        #expect(breaker.state == .closed)
        record(&breaker, [.failure, .failure, .failure])
        #expect(breaker.state == .closed)
    }
}
