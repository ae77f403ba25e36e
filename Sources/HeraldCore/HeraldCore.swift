// HeraldCore holds Herald's domain: emails, attempts and their history, the ports that the
// store and the providers implement, and the pure state machines (circuit breaker, retry
// schedule) that decide what happens next. It does no I/O and knows nothing of servers.
