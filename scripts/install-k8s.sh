#!/usr/bin/env bash
# Installs what the tests that need a real Kubernetes API use (apps/internal/kubetest): kube-apiserver, built
# from the Go module proxy into a project-local cache (there is no kubelet, no cluster: only the API server),
# and etcd-server from Debian packages as its storage.
# Idempotent: a second run with the same version only checks.
set -euo pipefail
source "$(dirname "$0")/env.sh"

command -v go >/dev/null || die "Go is required (https://go.dev/dl/); none found on PATH"

# The stamp records what the cached binary was built from; a change to the tools module rebuilds it.
tools_dir=$MP_ROOT/dapr/tools-k8s
stamp_file=$K8S_BIN_DIR/.stamp
want_stamp="$K8S_VERSION $(go env GOVERSION) $(cat "$tools_dir/go.mod" "$tools_dir/go.sum" "$tools_dir/tools.go" | sha256sum | cut -c1-16)"

build_apiserver() {
	mkdir -p "$K8S_BIN_DIR"
	local started=$SECONDS
	log "building kube-apiserver v$K8S_VERSION (first time only; takes several minutes)"
	# Built from the module proxy, the binary has no version of its own (v0.0.0-master+$Format:%H$), which
	# client-go's discovery and kubectl cannot parse; Kubernetes' own build sets these through ldflags too.
	local major=${K8S_VERSION%%.*} minor=${K8S_VERSION#*.}
	minor=${minor%%.*}
	local v="" pkg
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		v+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
	done
	(cd "$tools_dir" && GOTOOLCHAIN=local go build -ldflags "-s -w$v" \
		-o "$KUBE_APISERVER.tmp" k8s.io/kubernetes/cmd/kube-apiserver)
	mv "$KUBE_APISERVER.tmp" "$KUBE_APISERVER"
	echo "$want_stamp" >"$stamp_file"
	log "kube-apiserver built in $((SECONDS - started))s into $K8S_BIN_DIR"
}

if [[ -x $KUBE_APISERVER && -f $stamp_file && "$(cat "$stamp_file")" == "$want_stamp" ]]; then
	log "kube-apiserver v$K8S_VERSION already built in $K8S_BIN_DIR"
else
	build_apiserver
fi

if ! command -v "$ETCD" >/dev/null; then
	if command -v apt-get >/dev/null; then
		log "installing etcd-server from Debian packages"
		sudo_cmd=""
		[[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
		$sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q etcd-server >/dev/null ||
			{ $sudo_cmd apt-get update -q >/dev/null &&
				$sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q etcd-server >/dev/null; }
	else
		die "etcd not found: install etcd 3.4 or newer (your distribution's etcd-server package) or set ETCD"
	fi
fi
log "etcd: $("$ETCD" --version | head -1)"
