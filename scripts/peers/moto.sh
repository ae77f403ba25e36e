# moto's Amazon SES endpoint, with request signatures checked (sourced by scripts/test).
PIP_PACKAGES+=("moto:moto[server]" "boto3:boto3")

start_moto() {
    local port
    port=$(free_port)
    # No unauthenticated requests at all, except the window opened below to create a user.
    run_in_background moto env INITIAL_NO_AUTH_ACTION_COUNT=0 python3 -m moto.server -H 127.0.0.1 -p "$port"
    wait_for_port "$port" moto
    local credentials
    credentials=$(python3 scripts/peers/moto_setup.py "http://127.0.0.1:$port")
    export HERALD_TEST_SES_ENDPOINT="http://127.0.0.1:$port"
    HERALD_TEST_SES_ACCESS_KEY_ID=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["access_key_id"])' <<<"$credentials")
    HERALD_TEST_SES_SECRET_ACCESS_KEY=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["secret_access_key"])' <<<"$credentials")
    export HERALD_TEST_SES_ACCESS_KEY_ID HERALD_TEST_SES_SECRET_ACCESS_KEY
    export HERALD_TEST_SES_IDENTITY=herald-test.example
}
