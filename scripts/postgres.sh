#!/usr/bin/env bash
# Starts or stops the local PostgreSQL that can hold the Registry (state.postgresql) instead of sqlite: a
# private cluster under the data folder, listening on loopback only (TCP, no unix socket), on the project's
# own port, with a database named registry. Connections from loopback are trusted, as redis trusts them; the
# cluster is for this machine only.
#
# PostgreSQL refuses to run as root. Run as root, this script keeps the cluster's files and processes under a
# system user of its own (MP_POSTGRES_USER), created when missing; run as anyone else, under that user.
#
# Usage: postgres.sh start|stop|status|run
#   run   initialises the cluster when needed and runs the server in the foreground (for a supervisor such
#         as the e2e test stack, which sets MP_DATA_DIR and MP_POSTGRES_PORT); it ends with the supervisor.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/env.sh"

dir=$MP_DATA_DIR/postgres
logfile=$MP_DATA_DIR/logs/postgres.log
superuser=mgmtplane
database=registry

# The server's programs: Debian keeps them out of PATH, in /usr/lib/postgresql/<major>/bin; take the newest.
bindir=${MP_POSTGRES_BIN:-}
if [[ -z $bindir ]]; then
	bindir=$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)
	if [[ -x $bindir ]]; then bindir=$(dirname "$bindir"); else bindir=''; fi
	if [[ -z $bindir ]] && command -v pg_ctl >/dev/null; then bindir=$(dirname "$(command -v pg_ctl)"); fi
	[[ -n $bindir ]] || die "PostgreSQL not found: run scripts/install.sh (Debian's postgresql) or set MP_POSTGRES_BIN"
fi

# Settings given on the command line, so that a changed MP_POSTGRES_PORT takes effect on the next start.
# synchronous_commit=off: a commit returns before its WAL reaches the disk (a crash may lose the last moment
# of writes, never consistency) — the durability redis gives the broker with appendfsync everysec.
server_opts=(-c listen_addresses=127.0.0.1 -c "port=$MP_POSTGRES_PORT" -c unix_socket_directories=
	-c synchronous_commit=off -c max_connections=200)

root=false
[[ $(id -u) -eq 0 ]] && root=true

# as_owner runs a command as the cluster's owner: the system user under root, the caller otherwise. setpriv
# executes in place (no forked session as with su), so the command keeps the caller's process and signals.
as_owner() {
	if $root; then
		setpriv --reuid="$MP_POSTGRES_USER" --regid="$MP_POSTGRES_USER" --init-groups "$@"
	else
		"$@"
	fi
}

ensure_user() {
	$root || return 0
	id -u "$MP_POSTGRES_USER" >/dev/null 2>&1 && return 0
	log "creating system user $MP_POSTGRES_USER to run PostgreSQL (it refuses to run as root)"
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$MP_POSTGRES_USER"
}

# prepare makes the cluster on first use: initdb, then the registry database in single-user mode (no server,
# no network needed). Their output goes to the log file, or to stderr when the server runs in the foreground
# (onto the same open file, so that the server's own output later follows it instead of overwriting it).
prepare() {
	ensure_user
	mkdir -p "$dir"
	if [[ ${1:-} == foreground ]]; then
		exec 3>&2
	else
		mkdir -p "$(dirname "$logfile")"
		touch "$logfile"
		! $root || chown "$MP_POSTGRES_USER:" "$logfile"
		exec 3>>"$logfile"
	fi
	if $root; then
		chown -R "$MP_POSTGRES_USER:" "$dir"
		chmod 700 "$dir"
		as_owner test -w "$dir" ||
			die "$MP_POSTGRES_USER cannot reach $dir: every folder above it must be searchable by others (chmod o+x)"
	fi
	[[ -f $dir/PG_VERSION ]] && return 0
	log "initialising a PostgreSQL cluster in $dir"
	(cd / && as_owner "$bindir/initdb" -D "$dir" -U "$superuser" --auth=trust -E UTF8 --locale=C \
		--no-instructions >&3 2>&3) || die "initdb failed; see its output above or in $logfile"
	(cd / && echo "CREATE DATABASE $database" | as_owner "$bindir/postgres" --single -D "$dir" postgres >&3 2>&3) ||
		die "creating database $database failed; see its output above or in $logfile"
}

ours() { [[ -f $dir/postmaster.pid ]] && (cd / && as_owner "$bindir/pg_ctl" -D "$dir" status >/dev/null 2>&1); }
answers() { "$bindir/pg_isready" -q -h 127.0.0.1 -p "$MP_POSTGRES_PORT" -t 2 && return 0; [[ $? -eq 1 ]]; }
ready() { "$bindir/pg_isready" -q -h 127.0.0.1 -p "$MP_POSTGRES_PORT" -d "$database" -U "$superuser" -t 2; }

refuse_foreign() {
	# Another server on the port would pass for ours; refuse instead.
	if answers; then
		die "port $MP_POSTGRES_PORT is taken by a PostgreSQL this script did not start (none runs from $dir); stop it or set MP_POSTGRES_PORT"
	fi
}

case "${1:-}" in
start)
	if ours; then
		log "postgres already running on port $MP_POSTGRES_PORT (pid $(head -1 "$dir/postmaster.pid"))"
		exit 0
	fi
	refuse_foreign
	prepare
	opts=$(printf '%q ' "${server_opts[@]}")
	(cd / && as_owner "$bindir/pg_ctl" -D "$dir" -l "$logfile" -o "$opts" -w -t 60 start >/dev/null) ||
		die "postgres did not start; see $logfile"
	for _ in $(seq 50); do
		ready && { log "postgres listening on 127.0.0.1:$MP_POSTGRES_PORT, database $database"; exit 0; }
		sleep 0.1
	done
	die "postgres does not answer on 127.0.0.1:$MP_POSTGRES_PORT; see $logfile"
	;;
stop)
	if ours; then
		(cd / && as_owner "$bindir/pg_ctl" -D "$dir" -m fast -w -t 60 stop >/dev/null)
		log "postgres stopped"
	fi
	;;
status)
	if ours && ready; then
		echo "running (pid $(head -1 "$dir/postmaster.pid"), port $MP_POSTGRES_PORT)"
	else
		echo "stopped"
		exit 1
	fi
	;;
run)
	if ours; then die "postgres already runs from $dir"; fi
	refuse_foreign
	prepare foreground
	cd /
	# The caller's parent-death signal survives the change of user (--pdeathsig keep), so the server ends
	# with its supervisor even when that is killed outright.
	if $root; then
		exec setpriv --reuid="$MP_POSTGRES_USER" --regid="$MP_POSTGRES_USER" --init-groups --pdeathsig keep \
			"$bindir/postgres" -D "$dir" "${server_opts[@]}"
	fi
	exec "$bindir/postgres" -D "$dir" "${server_opts[@]}"
	;;
*)
	echo "usage: $0 start|stop|status|run" >&2
	exit 2
	;;
esac
