#!/usr/bin/env bash
# Runs the whole management plane locally: redis for pub/sub, then every app with its sidecar through the
# standard multi-app run template. Ctrl-C stops the apps and sidecars (the CLI does that) and then redis.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$MP_ROOT"

mkdir -p "$MP_DATA_DIR/logs"
# The local secret store refuses to start without its file. The Governor's state store encrypts with a key
# from it, which must exist before its sidecar starts: generated once, kept across runs.
secrets=$MP_DATA_DIR/secrets.json
[[ -f $secrets ]] || { echo '{}' >"$secrets"; chmod 600 "$secrets"; }
if ! grep -q '"governor-encryption-key"' "$secrets"; then
	key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	sed -i "0,/{/s//{\"governor-encryption-key\": \"$key\",/" "$secrets"
	sed -i 's/,\s*}/}/' "$secrets" # the file was empty ({}): no trailing comma
fi

# Tokens for the hops between each app and its sidecar: apps accept calls only from their sidecar
# (APP_API_TOKEN) and the sidecars only from their app (DAPR_API_TOKEN). daprd and the apps inherit them.
export APP_API_TOKEN=${APP_API_TOKEN:-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}
export DAPR_API_TOKEN=${DAPR_API_TOKEN:-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}

scripts/redis.sh start
trap 'stop_local_runtime; scripts/redis.sh stop' EXIT

gateway=http://localhost:${GATEWAY_PORT:-3000}
agent_dir=$MP_DATA_DIR/runtime-agent
mkdir -p "$agent_dir" "$MP_DATA_DIR/runtime/resources"

# start_local_runtime registers the local runtime in tenant "demo" (once), gives its agent a one-time token
# (until it has a certificate) and starts the agent, which writes the runtime's binding components.
start_local_runtime() {
	local tok id
	tok=$(bin/gateway token -data "$MP_DATA_DIR" -tenant demo)
	director() {
		curl -fsS "$gateway/director/graphql" -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' -d "$1"
	}
	if [[ ! -s $agent_dir/runtime-id ]]; then
		director '{"query":"mutation { registerRuntime(in: {name: \"local\"}) { id } }"}' |
			sed -n 's/.*"id":"\([^"]*\)".*/\1/p' >"$agent_dir/runtime-id"
	fi
	id=$(cat "$agent_dir/runtime-id")
	[[ -n $id ]] || { log "could not register the local runtime"; return 1; }
	if [[ ! -f $agent_dir/credentials/cert.pem ]]; then
		director "{\"query\":\"mutation { requestOneTimeTokenForRuntime(id: \\\"$id\\\") { token } }\"}" |
			sed -n 's/.*"token":"\([^"]*\)".*/\1/p' >"$agent_dir/token"
	fi
	(cd apps/runtime-agent && RUNTIME_ID=$id GATEWAY_SECURE_URL=https://localhost:3443 \
		GATEWAY_CA_FILE="$MP_DATA_DIR/tls/gateway.crt" RUNTIME_SIDECAR_URL=http://127.0.0.1:3510 \
		RUNTIME_DAPR_API_TOKEN=$DAPR_API_TOKEN MP_DATA_DIR="$MP_DATA_DIR" LOG_FORMAT=text \
		exec ../../bin/runtime-agent) >>"$MP_DATA_DIR/logs/runtime-agent.log" 2>&1 &
	echo $! >"$agent_dir/pid"
	log "local runtime $id: agent started (log: $MP_DATA_DIR/logs/runtime-agent.log)"
}

stop_local_runtime() {
	[[ -f $agent_dir/pid ]] && kill "$(cat "$agent_dir/pid")" 2>/dev/null || true
	rm -f "$agent_dir/pid"
}

(
	for _ in $(seq 120); do
		if curl -fs "$gateway/healthz" >/dev/null 2>&1 && curl -fs "$gateway/readyz" >/dev/null 2>&1; then
			start_local_runtime || log "the local runtime did not start; see above"
			cat >&2 <<MSG

  Management plane is up.
    Gateway (GraphQL):   $gateway/director/graphql   (token: make -s token TENANT=<id>)
    GraphQL playground:  $gateway/director/playground
    Governor (GraphQL):  $gateway/governor/graphql
    Local runtime:       id in $agent_dir/runtime-id (tenant demo), workload demo-logger
    Logs:                apps/<app>/.dapr/logs/ (app and daprd), $MP_DATA_DIR/logs/ (redis, runtime-agent)
  Press Ctrl-C to stop.

MSG
			exit 0
		fi
		sleep 0.5
	done
	log "the gateway did not become ready; see apps/*/.dapr/logs/"
) &

# The CLI moves itself into its own process group, so Ctrl-C in the terminal does not reach it; pass the
# interrupt on as SIGTERM, which makes it stop every app and sidecar, and wait until it has.
"$DAPR_CLI" run -f dapr/dapr.yaml &
cli=$!
trap 'kill -TERM "$cli" 2>/dev/null || true' INT TERM
wait "$cli" || wait "$cli" || true
