# SMTP peers: aiosmtpd (STARTTLS, implicit TLS, AUTH PLAIN/LOGIN, records every message) and
# Postfix's smtp-sink, plain and with injected faults. Sourced by scripts/test.

APT_PACKAGES+=(postfix openssl)  # smtp-sink comes with postfix; openssl makes the test certificate.
PIP_PACKAGES+=("aiosmtpd:aiosmtpd")

# start_sink NAME ENV_VAR [smtp-sink options...]: one smtp-sink on a free port, exported as ENV_VAR.
start_sink() {
    local name=$1 variable=$2 port
    shift 2
    port=$(free_port)
    # As root smtp-sink must drop privileges; -c prints counters, 100 is the listen backlog.
    run_in_background "$name" /usr/sbin/smtp-sink -u nobody -c "$@" "127.0.0.1:$port" 100
    wait_for_port "$port" "$name"
    export "$variable=$port"
}

start_smtp() {
    local tls_dir="$SCRATCH/smtp-tls" port implicit_port login_port pipelining_port
    mkdir -p "$tls_dir" "$SCRATCH/smtp-maildir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$tls_dir/key.pem" -out "$tls_dir/cert.pem" 2>"$SCRATCH/openssl.log"
    port=$(free_port)
    implicit_port=$(free_port)
    login_port=$(free_port)
    pipelining_port=$(free_port)
    run_in_background aiosmtpd python3 scripts/peers/aiosmtpd_server.py \
        --port "$port" --implicit-port "$implicit_port" --login-port "$login_port" \
        --pipelining-port "$pipelining_port" \
        --cert "$tls_dir/cert.pem" --key "$tls_dir/key.pem" --maildir "$SCRATCH/smtp-maildir" \
        --user herald --password "correct horse"
    wait_for_port "$port" aiosmtpd
    wait_for_port "$implicit_port" aiosmtpd
    wait_for_port "$login_port" aiosmtpd
    wait_for_port "$pipelining_port" aiosmtpd
    export HERALD_TEST_AIOSMTPD_PORT=$port
    export HERALD_TEST_AIOSMTPD_IMPLICIT_PORT=$implicit_port
    export HERALD_TEST_AIOSMTPD_LOGIN_PORT=$login_port
    export HERALD_TEST_AIOSMTPD_PIPELINING_PORT=$pipelining_port
    export HERALD_TEST_AIOSMTPD_CA="$tls_dir/cert.pem"
    export HERALD_TEST_AIOSMTPD_MAILDIR="$SCRATCH/smtp-maildir"
    export HERALD_TEST_AIOSMTPD_USER=herald
    export HERALD_TEST_AIOSMTPD_PASSWORD="correct horse"

    start_sink smtp-sink HERALD_TEST_SMTP_SINK_PORT
    # -f: hard (5xx) reject, -r: soft (4xx) reject, -B/-b: their reply text.
    start_sink smtp-sink-rcpt-hard HERALD_TEST_SMTP_SINK_RCPT_HARD_PORT -f rcpt -B "550 5.1.1 no such user"
    start_sink smtp-sink-rcpt-soft HERALD_TEST_SMTP_SINK_RCPT_SOFT_PORT -r rcpt
    start_sink smtp-sink-data-hard HERALD_TEST_SMTP_SINK_DATA_HARD_PORT -f . -B "554 5.7.1 rejected as spam"
    # -Q: 421 and hang up; -q: hang up without a reply.
    start_sink smtp-sink-mail-421 HERALD_TEST_SMTP_SINK_MAIL_421_PORT -Q mail
    start_sink smtp-sink-rcpt-drop HERALD_TEST_SMTP_SINK_RCPT_DROP_PORT -q rcpt
    start_sink smtp-sink-dot-drop HERALD_TEST_SMTP_SINK_DOT_DROP_PORT -q .
    # A reply to the final dot that comes long after the test's data-end timeout.
    start_sink smtp-sink-dot-slow HERALD_TEST_SMTP_SINK_DOT_SLOW_PORT -W .:60
}
