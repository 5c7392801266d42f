#!/usr/bin/env bash
# Installs what the project needs to run and test: daprd, sentry and the dapr CLI (built from the Go module
# proxy into a project-local cache, because `dapr init` downloads from GitHub), redis-server (pub/sub broker)
# and PostgreSQL (a Registry store the tests cover).
# Idempotent: a second run with the same versions only checks.
set -euo pipefail
source "$(dirname "$0")/env.sh"

command -v go >/dev/null || die "Go is required (https://go.dev/dl/); none found on PATH"

# The stamp records what the cached binaries were built from; a change to the tools module (its go.mod, go.sum
# or the list of programs in tools.go) rebuilds them.
tools_dir=$MP_ROOT/dapr/tools
stamp_file=$DAPR_BIN_DIR/.stamp
want_stamp="$DAPR_VERSION $DAPR_BUILD_TOOLCHAIN $(cat "$tools_dir/go.mod" "$tools_dir/go.sum" "$tools_dir/tools.go" | sha256sum | cut -c1-16)"

build_dapr() {
	mkdir -p "$DAPR_BIN_DIR"
	local started=$SECONDS
	log "building daprd $DAPR_VERSION with $DAPR_BUILD_TOOLCHAIN (first time only; takes several minutes)"
	# allcomponents: without a tag daprd panics at start, and the sqlite name resolver needs this one.
	# buildinfo.version stays unset on purpose: with a version >= 1.15 the CLI insists on a scheduler,
	# which cannot be built from the proxy (see README, "Dapr without dapr init").
	(cd "$tools_dir" && GOTOOLCHAIN=$DAPR_BUILD_TOOLCHAIN go build -tags allcomponents \
		-ldflags '-s -w' -o "$DAPRD.tmp" github.com/dapr/dapr/cmd/daprd)
	mv "$DAPRD.tmp" "$DAPRD"
	# sentry: the certificate authority of the plane's sidecars (mTLS identities for access control).
	log "building sentry $DAPR_VERSION"
	(cd "$tools_dir" && GOTOOLCHAIN=$DAPR_BUILD_TOOLCHAIN go build -ldflags '-s -w' \
		-o "$DAPR_SENTRY.tmp" github.com/dapr/dapr/cmd/sentry)
	mv "$DAPR_SENTRY.tmp" "$DAPR_SENTRY"
	# operator: streams Component resources to sidecars in Kubernetes mode (the managed-runtime e2e test).
	log "building the operator $DAPR_VERSION"
	(cd "$tools_dir" && GOTOOLCHAIN=$DAPR_BUILD_TOOLCHAIN go build -ldflags '-s -w' \
		-o "$DAPR_OPERATOR.tmp" github.com/dapr/dapr/cmd/operator)
	mv "$DAPR_OPERATOR.tmp" "$DAPR_OPERATOR"
	log "building the dapr CLI $DAPR_VERSION"
	(cd "$tools_dir" && GOTOOLCHAIN=$DAPR_BUILD_TOOLCHAIN go build -ldflags '-s -w' \
		-o "$DAPR_CLI.tmp" github.com/dapr/cli)
	mv "$DAPR_CLI.tmp" "$DAPR_CLI"
	echo "$want_stamp" >"$stamp_file"
	log "dapr toolchain built in $((SECONDS - started))s into $DAPR_BIN_DIR"
}

if [[ -x $DAPRD && -x $DAPR_SENTRY && -x $DAPR_OPERATOR && -x $DAPR_CLI && -f $stamp_file && "$(cat "$stamp_file")" == "$want_stamp" ]]; then
	log "daprd, sentry, operator and dapr CLI $DAPR_VERSION already built in $DAPR_BIN_DIR"
else
	build_dapr
fi

# apt_install PACKAGE installs a Debian package, refreshing the package lists once if the first try fails;
# it answers false where there is no apt-get.
apt_install() {
	command -v apt-get >/dev/null || return 1
	log "installing $1 from Debian packages"
	local sudo_cmd=""
	[[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
	$sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" >/dev/null ||
		{ $sudo_cmd apt-get update -q >/dev/null &&
			$sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" >/dev/null; }
}

if ! command -v redis-server >/dev/null; then
	apt_install redis-server ||
		die "redis-server not found: install Redis 7 (e.g. 'brew install redis' or your distribution's redis package)"
fi
log "redis-server: $(redis-server --version | cut -d' ' -f3)"
"$(dirname "$0")/install-k8s.sh" # kube-apiserver and etcd, for the tests on a real Kubernetes API

# PostgreSQL, for the Registry on state.postgresql (scripts/postgres.sh; make test runs the e2e suite on it).
# Debian keeps the server's programs out of PATH, in /usr/lib/postgresql/<major>/bin.
if [[ -z ${MP_POSTGRES_BIN:-} ]] && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && ! command -v initdb >/dev/null; then
	apt_install postgresql ||
		die "PostgreSQL not found: install PostgreSQL 15 or newer (initdb, pg_ctl, postgres) or set MP_POSTGRES_BIN to its programs' folder"
fi

# Debian's Chromium, which the Cockpit's browser tests drive headless (chromedp). Without it those tests
# say so and skip, unless make test requires them (MP_REQUIRE_E2E=1).
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
	apt_install chromium || log "Chromium could not be installed: the Cockpit's browser tests cannot run here"
fi
