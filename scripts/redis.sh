#!/usr/bin/env bash
# Starts or stops the local redis that carries Dapr pub/sub. It listens on loopback only, on the project's
# own port, and keeps its data (append-only file) under the data folder so events survive a restart.
# Usage: redis.sh start|stop|status
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/env.sh"

dir=$MP_DATA_DIR/redis
pidfile=$dir/redis.pid

running() { [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "${1:-}" in
start)
	if running; then
		log "redis already running on port $MP_REDIS_PORT (pid $(cat "$pidfile"))"
		exit 0
	fi
	# Another redis on the port would answer the ping below and pass for ours; refuse instead.
	if redis-cli -p "$MP_REDIS_PORT" ping >/dev/null 2>&1; then
		die "port $MP_REDIS_PORT is taken by a redis this script did not start (no live pid in $pidfile); stop it or set MP_REDIS_PORT"
	fi
	mkdir -p "$dir" "$MP_DATA_DIR/logs"
	redis-server --bind 127.0.0.1 --port "$MP_REDIS_PORT" --dir "$dir" --appendonly yes \
		--daemonize yes --pidfile "$pidfile" --logfile "$MP_DATA_DIR/logs/redis.log" --save ''
	for _ in $(seq 50); do
		running && redis-cli -p "$MP_REDIS_PORT" ping >/dev/null 2>&1 && { log "redis listening on 127.0.0.1:$MP_REDIS_PORT"; exit 0; }
		sleep 0.1
	done
	die "redis did not start; see $MP_DATA_DIR/logs/redis.log"
	;;
stop)
	if running; then
		pid=$(cat "$pidfile")
		kill "$pid"
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		log "redis stopped"
	fi
	rm -f "$pidfile"
	;;
status)
	if running; then echo "running (pid $(cat "$pidfile"), port $MP_REDIS_PORT)"; else echo "stopped"; exit 1; fi
	;;
*)
	echo "usage: $0 start|stop|status" >&2
	exit 2
	;;
esac
