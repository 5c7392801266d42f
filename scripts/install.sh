#!/usr/bin/env bash
# Installs what the project needs to run and test: daprd, sentry, the operator and the dapr CLI (built from the
# Go module proxy into a project-local cache, because `dapr init` downloads from GitHub), redis-server (pub/sub broker)
# and PostgreSQL (a Registry store the tests cover).
# Idempotent: a second run with the same versions only checks.
set -euo pipefail
source "$(dirname "$0")/env.sh"

command -v go >/dev/null || die "Go is required (https://go.dev/dl/); none found on PATH"

# A tools module pins each version; a mismatch with env.sh would cache one version's binaries under another's name.
runtime_tools=$MP_ROOT/dapr/tools
cli_tools=$MP_ROOT/dapr/tools-cli
grep -q "github.com/dapr/dapr v$DAPR_VERSION\$" "$runtime_tools/go.mod" ||
	die "DAPR_VERSION=$DAPR_VERSION, but dapr/tools/go.mod pins another github.com/dapr/dapr; change both"
grep -q "github.com/dapr/cli v$DAPR_CLI_VERSION\$" "$cli_tools/go.mod" ||
	die "DAPR_CLI_VERSION=$DAPR_CLI_VERSION, but dapr/tools-cli/go.mod pins another github.com/dapr/cli; change both"

# A stamp records what the cached binaries were built from; a change to their tools module (its go.mod, go.sum,
# the list of programs in tools.go, the lean daprd's sources) or to the flavour rebuilds them. The Go version
# is left out: a newer Go builds the same programs, and a rebuild of daprd costs minutes.
tools_hash() { cat "$1/go.mod" "$1/go.sum" "$1/tools.go" "${@:2}" | sha256sum | cut -c1-16; }
runtime_stamp_file=$DAPR_BIN_DIR/.stamp
# The lean daprd's registrations are generated at build time (see build_runtime), so the stamp takes what they
# are generated from (the generator and the Governor's binding types) and its hand-written sources: every Go
# file under dapr/tools/daprd but the generated reg_*.go and the tests.
mapfile -t lean_sources < <(find "$runtime_tools/daprd" -name '*.go' ! -name 'reg_*.go' ! -name '*_test.go' | LC_ALL=C sort)
runtime_stamp="$DAPR_VERSION $DAPRD_COMPONENTS $(tools_hash "$runtime_tools" "${lean_sources[@]}" \
	"$MP_ROOT"/dapr/daprdgen/*.go "$MP_ROOT"/apps/governor/configuration/bindingtypes.go)"
cli_stamp_file=$DAPR_CLI_DIR/.stamp
cli_stamp="$DAPR_CLI_VERSION $(tools_hash "$cli_tools")"

# go_build DIR OUT ARGS...: builds into OUT through a temporary name, so an interrupted build leaves no binary
# that looks complete. GOTOOLCHAIN=local: the Go on PATH, never a downloaded one.
go_build() {
	local dir=$1 out=$2
	shift 2
	(cd "$dir" && GOTOOLCHAIN=local go build -ldflags '-s -w' -o "$out.tmp" "$@")
	mv "$out.tmp" "$out"
}

build_runtime() {
	mkdir -p "$DAPR_BIN_DIR"
	local started=$SECONDS
	# buildinfo.version stays unset on purpose: with a version >= 1.15 the CLI points daprd at a scheduler,
	# which cannot be built from the proxy, and daprd then never reports ready (see README, "Dapr without
	# dapr init").
	if [[ $DAPRD_COMPONENTS == all ]]; then
		log "building dapr's daprd $DAPR_VERSION with every component, with $(go env GOVERSION) (first time only; about 12 minutes on 2 cores)"
		# allcomponents: without a tag dapr's daprd panics at start, and the sqlite name resolver needs this
		# one (stablecomponents lacks it).
		go_build "$runtime_tools" "$DAPRD" -tags allcomponents github.com/dapr/dapr/cmd/daprd
	else
		log "building the lean daprd $DAPR_VERSION with $(go env GOVERSION) (first time only; 2,004 packages where dapr's full daprd has 2,879)"
		# dapr/tools/daprd: dapr's runtime with the components the plane uses (DAPRD_COMPONENTS=all for every one).
		# Its registrations are written now from the dapr module in the module cache, for the Governor's binding
		# types and the other types the plane uses (dapr/daprdgen): they are dapr's code, so they are generated
		# into the build, like the module itself, and never committed.
		(cd "$runtime_tools" && GOTOOLCHAIN=local go mod download github.com/dapr/dapr)
		(cd "$MP_ROOT" && GOTOOLCHAIN=local go run ./dapr/daprdgen)
		go_build "$runtime_tools" "$DAPRD" ./daprd
	fi
	log "daprd built in $((SECONDS - started))s"
	# sentry: the certificate authority of the plane's sidecars (mTLS identities for access control).
	log "building sentry $DAPR_VERSION"
	go_build "$runtime_tools" "$DAPR_SENTRY" github.com/dapr/dapr/cmd/sentry
	# operator: streams Component resources to sidecars in Kubernetes mode (the managed-runtime e2e test).
	log "building the operator $DAPR_VERSION"
	go_build "$runtime_tools" "$DAPR_OPERATOR" github.com/dapr/dapr/cmd/operator
	echo "$runtime_stamp" >"$runtime_stamp_file"
	log "daprd, sentry and operator $DAPR_VERSION built in $((SECONDS - started))s into $DAPR_BIN_DIR"
}

build_cli() {
	mkdir -p "$DAPR_CLI_DIR"
	local started=$SECONDS
	log "building the dapr CLI $DAPR_CLI_VERSION with $(go env GOVERSION) (first time only; several minutes)"
	go_build "$cli_tools" "$DAPR_CLI" github.com/dapr/cli
	echo "$cli_stamp" >"$cli_stamp_file"
	log "dapr CLI $DAPR_CLI_VERSION built in $((SECONDS - started))s into $DAPR_CLI_DIR"
}

if [[ -x $DAPRD && -x $DAPR_SENTRY && -x $DAPR_OPERATOR && -f $runtime_stamp_file && "$(cat "$runtime_stamp_file")" == "$runtime_stamp" ]]; then
	log "daprd ($DAPRD_COMPONENTS), sentry and operator $DAPR_VERSION already built in $DAPR_BIN_DIR"
else
	build_runtime
fi
if [[ -x $DAPR_CLI && -f $cli_stamp_file && "$(cat "$cli_stamp_file")" == "$cli_stamp" ]]; then
	log "dapr CLI $DAPR_CLI_VERSION already built in $DAPR_CLI_DIR"
else
	build_cli
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
