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
trap 'scripts/redis.sh stop' EXIT

gateway=http://localhost:${GATEWAY_PORT:-3000}
(
	for _ in $(seq 120); do
		if curl -fs "$gateway/healthz" >/dev/null 2>&1 && curl -fs "$gateway/readyz" >/dev/null 2>&1; then
			cat >&2 <<MSG

  Management plane is up.
    Gateway (GraphQL):   $gateway/director/graphql   (token: make -s token TENANT=<id>)
    GraphQL playground:  $gateway/director/playground
    Logs:                apps/<app>/.dapr/logs/ (app and daprd), $MP_DATA_DIR/logs/redis.log
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
