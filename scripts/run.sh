#!/usr/bin/env bash
# Runs the whole management plane locally until Ctrl-C: redis for pub/sub; sentry, the certificate authority
# of the plane's mesh (mTLS identities, on which each app's access policy rests); the plane's apps, each with
# its sidecar, through the standard multi-app run template (dapr/dapr.yaml); and a demo runtime, which the
# Provisioner provisions on the first run (see "The demo runtime" below).
#
# One run at a time: a second run says which one is running and touches nothing. In a multi-app run the dapr
# CLI only logs that a process died and keeps the others running, so this script watches every process of
# the run; when one dies it says which and stops everything (it does not restart it). Ctrl-C stops
# everything too, in order: the runtimes the Provisioner started, the plane's apps, their sidecars, the CLI,
# sentry, redis.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/env.sh"
cd "$MP_ROOT"
mkdir -p "$MP_DATA_DIR/logs"

# --- One run at a time ---------------------------------------------------------------------------------------
# flock on fd 9, held for the life of this script; the kernel drops it when the script ends, however it ends.
# Long-lived children are started with 9>&- so that none of them can keep holding it after the script.
command -v flock >/dev/null || die "flock (util-linux) is required"
run_pidfile=$MP_DATA_DIR/run.pid
exec 9>>"$MP_DATA_DIR/run.lock"
if ! flock -n 9; then
	die "make run is already running (pid $(cat "$run_pidfile" 2>/dev/null || echo unknown)); this one leaves it alone. Stop it with Ctrl-C in its terminal, or kill <pid>."
fi
echo $$ >"$run_pidfile"
trap 'rm -f "$run_pidfile"' EXIT # until stop_all takes over below

# --- Ports -----------------------------------------------------------------------------------------------------
# A plane started some other way (dapr run -f by hand, processes left over from a run killed with -9) holds
# these ports. Say so now, before anything is started, instead of failing halfway.
gateway_port=3000 gateway_tls_port=3443
# The dapr CLI points every daprd whose Configuration enables mTLS at sentry on localhost:50001, a fixed
# address (dapr/cli pkg/standalone: sentryDefaultAddress); so sentry must listen there.
sentry_port=50001 sentry_healthz_port=50011
mapfile -t ports < <(grep -oE '(appPort|daprHTTPPort|daprGRPCPort|metricsPort): *[0-9]+' dapr/dapr.yaml | grep -oE '[0-9]+$')
ports+=("$gateway_tls_port" "$sentry_port" "$sentry_healthz_port")
holder() { # the process listening on port $1, as ss (where present) names it
	command -v ss >/dev/null || return 0
	ss -Hltnp "sport = :$1" | grep -o 'users:.*' | head -1 || true
}
busy=()
for port in "${ports[@]}"; do
	# Connecting succeeds only if something listens there.
	if (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then busy+=("$port $(holder "$port")"); fi
done
if ((${#busy[@]})); then
	log "ports this run needs are in use:"
	printf '    %s\n' "${busy[@]}" >&2
	die "is a management plane running that make run did not start? Stop it first (pgrep -fa 'daprd|bin/' lists candidates)."
fi

# --- Secrets and tokens ----------------------------------------------------------------------------------------
# The local secret store refuses to start without its file. The Governor's state store encrypts with a key
# from it, which must exist before its sidecar starts: generated once, kept across runs.
secrets=$MP_DATA_DIR/secrets.json
[[ -f $secrets ]] || { echo '{}' >"$secrets"; chmod 600 "$secrets"; }
# The Provisioner's store likewise (it holds one-time tokens and the local runtimes' API tokens), and the
# Cockpit's (its sessions hold users' tokens).
for name in governor-encryption-key provisioner-encryption-key cockpit-encryption-key; do
	if ! grep -q "\"$name\"" "$secrets"; then
		key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
		sed -i "0,/{/s//{\"$name\": \"$key\",/" "$secrets"
		sed -i 's/,\s*}/}/' "$secrets" # the file was empty ({}): no trailing comma
	fi
done
# The key the gateway signs caller assertions with and the public keys the apps verify them with: generated
# into the local secret stores' files under MP_DATA_DIR on first use, before any sidecar reads them.
bin/gateway keys

new_token() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
# Tokens for the hops between each app and its sidecar: apps accept calls only from their sidecar
# (APP_API_TOKEN) and the sidecars only from their app (DAPR_API_TOKEN). The CLI, and so the plane's daprd
# and apps, inherit them.
export APP_API_TOKEN=${APP_API_TOKEN:-$(new_token)}
export DAPR_API_TOKEN=${DAPR_API_TOKEN:-$(new_token)}

# --- The mesh: sentry, identities, access policies -----------------------------------------------------------
# Each plane sidecar gets an mTLS certificate for its app id from sentry, and its app's access policy
# (dapr/access/<app>.yaml) lets only the callers the app needs through. The run template can give a daprd one
# Configuration file and no flags or environment of its own, so:
#  - each app's Configuration is written here, into apps/<app>/.dapr/config.yaml (the run template names it):
#    dapr/config.yaml, then spec.mtls.enabled — on which the CLI starts daprd with --enable-mtls
#    --sentry-address localhost:50001 (daprd itself ignores it in self-hosted mode) — then the app's policy;
#  - the environment every daprd inherits from the CLI names each one's own token by a relative path: daprd
#    runs in its app's folder, so .dapr/sentry-token is apps/<app>/.dapr/sentry-token.
# Sentry signs a certificate only for the identity a token names. The tokens' key is new at every run and
# never stored: no other process can mint a token, and a token is good only for this run's sentry.
mapfile -t plane_apps < <(grep -oE 'appID: *[a-z0-9-]+' dapr/dapr.yaml | sed 's/appID: *//')
mesh_namespace=mgmtplane # as on Kubernetes (deploy/namespace.yaml); the access policies name it
sentry_dir=$MP_DATA_DIR/sentry
mkdir -p "$sentry_dir/ca"
chmod 700 "$sentry_dir" "$sentry_dir/ca"
# The access policy is appended to dapr/config.yaml's spec: that must be its last top-level key.
[[ $(grep -E '^[a-zA-Z]' dapr/config.yaml | tail -1) == "spec:" ]] || die "dapr/config.yaml must end with its spec"
tokens=()
for app in "${plane_apps[@]}"; do
	[[ -f dapr/access/$app.yaml ]] || die "dapr/access/$app.yaml is missing: every plane app needs an access policy"
	mkdir -p "apps/$app/.dapr"
	{
		echo "# Written by scripts/run.sh at every start from dapr/config.yaml and dapr/access/$app.yaml; edit those."
		cat dapr/config.yaml
		echo "  mtls:"
		echo "    enabled: true"
		sed '1,/^spec:/d' "dapr/access/$app.yaml"
	} >"apps/$app/.dapr/config.yaml"
	tokens+=("$app=apps/$app/.dapr/sentry-token")
done
go run ./dapr/sentrytoken/mint -jwks "$sentry_dir/tokens.jwks.json" -namespace "$mesh_namespace" "${tokens[@]}"

gateway=http://localhost:$gateway_port
demo_id_file=$MP_DATA_DIR/demo-runtime-id

# --- What this run started ------------------------------------------------------------------------------------
# Pids of the processes this script starts itself. The plane's daprd and apps are the CLI's children:
# watch_plane records them in plane_pid as they appear, keyed "<app id>/daprd" and "<app id>/app", so that
# they can be reported by name and stopped in order even if the CLI itself died.
cli='' started='' redis_pid='' sentry_pid=''
declare -A plane_pid=()

watch_plane() {
	local pid args
	[[ -n $cli ]] || return 0
	for pid in $(pgrep -P "$cli"); do
		args=$(ps -o args= -p "$pid") || continue
		if [[ $args == *" --app-id "* ]]; then # a daprd
			args=${args#* --app-id }
			plane_pid[${args%% *}/daprd]=$pid
		else # an app: ../../bin/<app id>
			args=${args%% *}
			plane_pid[${args##*/}/app]=$pid
		fi
	done
}

plane_pids() { # plane_pids daprd|app
	local key
	for key in "${!plane_pid[@]}"; do [[ $key == */"$1" ]] && echo "${plane_pid[$key]}"; done
	return 0
}

# --- Watching -------------------------------------------------------------------------------------------------
# died reports a dead process and exits, which stops everything (stop_all).
died() { # died <what> <how it ended, or ""> <its log>
	log "$1 exited${2:+ ($2)}; its log: $3"
	log "stopping the whole run (make run does not restart a process); start it again with make run"
	exit 1
}

# check_own exits through died when a process this script started itself is gone. wait gives its exit status
# even after the shell has reaped it (and must run in this shell, not in a $(...) subshell).
check_own() { # check_own <pid> <what> <its log>
	local code=0
	kill -0 "$1" 2>/dev/null && return 0
	wait "$1" || code=$?
	if ((code > 128)); then died "$2" "killed by signal $((code - 128))" "$3"; fi
	died "$2" "exit code $code" "$3"
}

# check_plane exits through died when a daprd or app of the plane is gone, or never appeared. The CLI writes
# how a process ended into the log file it keeps for it (the newest one is this run's).
check_plane() {
	local app kind pid logf how what
	for app in "${plane_apps[@]}"; do
		for kind in daprd app; do
			pid=${plane_pid[$app/$kind]:-}
			if [[ -n $pid ]]; then
				kill -0 "$pid" 2>/dev/null && continue
			elif ((SECONDS - started < 30)); then
				continue # the CLI starts them one after another within seconds
			fi
			sleep 0.5 # let the CLI write the exit status
			# (|| true: no log file, or no such line, is possible and not an error here)
			logf=$(find "apps/$app/.dapr/logs" -name "${app}_${kind}_*.log" 2>/dev/null | sort | tail -1) || true
			how=$(grep -a -h -o -E 'exited with error code: .*|Exited (App|Dapr) successfully' "$logf" 2>/dev/null |
				tail -1 | sed -e 's/^exited with error code: //' -e 's/^Exited .* successfully$/exit code 0/') || true
			what=$app
			[[ $kind == app ]] || what="the sidecar (daprd) of $app"
			[[ -n $pid ]] || what="$what, right after its start,"
			died "$what" "$how" "${logf:-apps/$app/.dapr/logs/}"
		done
	done
}

check_alive() {
	check_plane
	check_own "$cli" "the dapr CLI (dapr run -f dapr/dapr.yaml)" "this terminal"
	check_own "$sentry_pid" "sentry (the mesh's certificate authority)" "$MP_DATA_DIR/logs/sentry.log"
	# redis runs as a daemon, not as a child of this script: no exit status.
	kill -0 "$redis_pid" 2>/dev/null || died "redis" "" "$MP_DATA_DIR/logs/redis.log"
}

# --- Stopping -------------------------------------------------------------------------------------------------
# stop_pids sends SIGTERM, gives the processes 10 s to finish, then kills what is left.
stop_pids() {
	local pid pids=() alive=()
	for pid in "$@"; do kill -TERM "$pid" 2>/dev/null && pids+=("$pid"); done
	for _ in $(seq 100); do
		alive=()
		for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
		((${#alive[@]})) || return 0
		sleep 0.1
	done
	log "still running after 10 s, killing: ${alive[*]}"
	kill -KILL "${alive[@]}" 2>/dev/null
}

# provisioned_pids lists the running processes of the runtimes the Provisioner started (their pid files under
# .data/runtimes/<id>/pids/<name>.pid). They run in sessions of their own so that they outlive a Provisioner
# restart; a make run that ends stops them with the rest.
provisioned_pids() {
	local name f pid
	for name in "$@"; do
		for f in "$MP_DATA_DIR"/runtimes/*/pids/"$name".pid; do
			[[ -f $f ]] || continue
			read -r pid _ <"$f"
			kill -0 "$pid" 2>/dev/null && echo "$pid"
		done
	done
}

# stop_all runs on every exit of this script. The order matters: the runtime's workload and agent before its
# sidecar; the plane's apps before their sidecars (an app may still use its sidecar while it shuts down); the
# CLI after them, so it finds nothing left to stop (it would SIGKILL them); sentry, then redis last.
stop_all() {
	local rc=$?
	set +e               # stop everything even if one step fails
	trap '' INT TERM HUP # the stop is bounded; a second Ctrl-C must not cut it short
	log "stopping everything this run started"
	watch_plane
	# shellcheck disable=SC2046,SC2086 # one pid per word, none when empty
	{
		stop_pids $(provisioned_pids agent workload)
		stop_pids $(provisioned_pids daprd)
		stop_pids $(plane_pids app)
		stop_pids $(plane_pids daprd)
		stop_pids $cli
		stop_pids $sentry_pid
	}
	[[ -z $redis_pid ]] || scripts/redis.sh stop
	rm -f "$run_pidfile"
	log "stopped"
	exit "$rc"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- Redis and the plane ---------------------------------------------------------------------------------------
scripts/redis.sh start 9>&-
redis_pid=$(cat "$MP_DATA_DIR/redis/redis.pid") # written by scripts/redis.sh

# Sentry first: a daprd started before it waits silently for its certificate. It keeps its root certificate
# in $sentry_dir/ca and runs there, where dapr/sentry.yaml finds the tokens' key set. NAMESPACE=default: its
# own identity, spiffe://localhost/ns/default/dapr-sentry, is what daprd checks. Its gRPC port listens on
# loopback only; its healthz port, whatever the flags say, on every interface. In a session of its own, so
# that Ctrl-C reaches only this script, which then stops it in order.
start_sentry() {
	local i
	(cd "$sentry_dir" && exec setsid env NAMESPACE=default "$DAPR_SENTRY" --config "$MP_ROOT/dapr/sentry.yaml" \
		--issuer-credentials "$sentry_dir/ca" --trust-domain localhost --port "$sentry_port" \
		--listen-address 127.0.0.1 --healthz-port "$sentry_healthz_port" --enable-metrics=false --log-level info) \
		>>"$MP_DATA_DIR/logs/sentry.log" 2>&1 9>&- &
	sentry_pid=$!
	for ((i = 0; ; i++)); do
		curl -fs --max-time 1 "http://127.0.0.1:$sentry_healthz_port/healthz" >/dev/null && return 0
		check_own "$sentry_pid" "sentry (the mesh's certificate authority)" "$MP_DATA_DIR/logs/sentry.log"
		((i < 300)) || { log "sentry is not healthy after 30 s; its log: $MP_DATA_DIR/logs/sentry.log"; exit 1; }
		sleep 0.1
	done
}
# On its first start sentry makes the root certificate into the folder it watches, and then reloads itself
# once for each file it wrote, 2 s apart, closing its listeners each time. So on the first run of a checkout
# (or after make reset) one start only makes the certificate, and the sentry that serves starts on it.
if [[ ! -s $sentry_dir/ca/ca.crt ]]; then
	start_sentry
	stop_pids "$sentry_pid"
	log "sentry made the mesh's root certificate: $sentry_dir/ca/ca.crt"
fi
start_sentry

# The plane's sidecars get the mesh's settings from the CLI's environment (see "The mesh" above); the apps
# get them too and ignore them. Only the CLI gets them: the runtimes the Provisioner starts stay out of the
# mesh (it gives their processes an environment of their own).
NAMESPACE=$mesh_namespace DAPR_TRUST_ANCHORS=$(cat "$sentry_dir/ca/ca.crt") DAPR_SENTRY_TOKEN_FILE=.dapr/sentry-token \
	"$DAPR_CLI" run -f dapr/dapr.yaml 9>&- &
cli=$! started=$SECONDS

# --- The demo runtime ------------------------------------------------------------------------------------------
# provision_demo makes sure tenant "demo" has a local runtime, provisioned through the Provisioner like any
# other: once, its id kept in $demo_id_file. On later runs the Provisioner has already started its processes
# again (it revives stopped local runtimes when it starts). Its sidecar, workload demo-logger and agent live
# under $MP_DATA_DIR/runtimes/<id>, outside the plane's mesh, and stop with this run.
provision_demo() {
	local tok id answer
	tok=$(bin/gateway token -data "$MP_DATA_DIR" -tenant demo) || return 1
	gql() {
		curl -fsS --max-time 30 "$gateway/$1/graphql" -H "Authorization: Bearer $tok" \
			-H 'Content-Type: application/json' -d "$2"
	}
	# Earlier checkouts started the demo runtime without the Provisioner: unregister that one (which revokes
	# its certificate) and drop its folders.
	if [[ -s $MP_DATA_DIR/runtime-agent/runtime-id ]]; then
		id=$(cat "$MP_DATA_DIR/runtime-agent/runtime-id")
		gql director "{\"query\":\"mutation { unregisterRuntime(id: \\\"$id\\\") { id } }\"}" >/dev/null || true
		rm -rf "$MP_DATA_DIR/runtime-agent" "$MP_DATA_DIR/runtime"
		log "unregistered the demo runtime of the earlier layout ($id)"
	fi
	if [[ -s $demo_id_file ]]; then
		id=$(cat "$demo_id_file")
		answer=$(gql provisioner "{\"query\":\"{ runtimeStatus(id: \\\"$id\\\") { lastOperationStatus { operation state } } }\"}" 2>/dev/null)
		if [[ $answer == *'"operation"'* && $answer != *'"operation":"Deprovision","state":"Succeeded"'* ]]; then
			log "demo runtime $id (its processes log to $MP_DATA_DIR/runtimes/$id/logs/)"
			return 0
		fi
	fi
	# The Provisioner may answer a moment after the gateway does.
	for _ in $(seq 30); do
		answer=$(gql provisioner '{"query":"mutation { provisionRuntime(config: {runtimeInput: {name: \"local\"}, clusterConfig: {localConfig: {logInterval: \"1s\"}}}) { id runtimeID } }"}' 2>/dev/null) &&
			[[ $answer == *'"runtimeID"'* ]] && break
		sleep 1
	done
	id=$(sed -n 's/.*"runtimeID":"\([^"]*\)".*/\1/p' <<<"$answer")
	[[ -n $id ]] || { log "could not provision the demo runtime: ${answer:-no answer}"; return 1; }
	echo "$id" >"$demo_id_file"
	log "demo runtime $id: provisioning (runtimeOperationStatus tells how far; logs in $MP_DATA_DIR/runtimes/$id/logs/)"
}

ready() { curl -fs --max-time 2 "$gateway/healthz" >/dev/null && curl -fs --max-time 2 "$gateway/readyz" >/dev/null; }

# --- Until Ctrl-C ------------------------------------------------------------------------------------------------
# Once a second: record the CLI's new children, check that nothing died, and see to the demo runtime once the
# gateway is ready. A signal ends the loop through its trap (exit, then stop_all).
up='' warned=''
while :; do
	watch_plane
	check_alive
	if [[ -z $up ]] && ready; then
		up=1
		provision_demo || log "the demo runtime was not provisioned; see above"
		cat >&2 <<MSG

  Management plane is up.
    Cockpit (web UI):    $gateway/cockpit/   (development sign-in: any tenant)
    Gateway (GraphQL):   $gateway/director/graphql   (token: make -s token TENANT=<id>)
    GraphQL playground:  $gateway/director/playground
    Governor (GraphQL):  $gateway/governor/graphql
    Provisioner:         $gateway/provisioner/graphql   (runtimes under $MP_DATA_DIR/runtimes/)
    System Broker (OSB): $gateway/broker/v2/catalog   (HTTP Basic: a runtime's client credentials)
    Demo runtime:        id in $demo_id_file (tenant demo), workload demo-logger
    Logs:                apps/<app>/.dapr/logs/ (app and daprd); $MP_DATA_DIR/logs/ (redis, sentry);
                         $MP_DATA_DIR/runtimes/<id>/logs/ (a runtime's daprd, workload, agent)
  Press Ctrl-C to stop (pid $$).

MSG
	elif [[ -z $up && -z $warned ]] && ((SECONDS - started > 120)); then
		warned=1
		log "the gateway is not ready after 2 minutes; still waiting (see apps/*/.dapr/logs/)"
	fi
	sleep 1
done
