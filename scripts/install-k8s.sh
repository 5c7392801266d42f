#!/usr/bin/env bash
# Installs what the tests that need a real Kubernetes API use (apps/internal/kubetest): kube-apiserver and
# kube-controller-manager, built from the Go module proxy into a project-local cache (there is no kubelet, no
# cluster: only the API server and the garbage collector), and etcd-server from Debian packages as storage.
# Idempotent: a second run with the same version only checks.
set -euo pipefail
source "$(dirname "$0")/env.sh"

command -v go >/dev/null || die "Go is required (https://go.dev/dl/); none found on PATH"

# The stamp records what the cached binaries were built from; a change to the tools module rebuilds them.
tools_dir=$MP_ROOT/dapr/tools-k8s
stamp_file=$K8S_BIN_DIR/.stamp
want_stamp="$K8S_VERSION $(go env GOVERSION) $(cat "$tools_dir/go.mod" "$tools_dir/go.sum" "$tools_dir/tools.go" | sha256sum | cut -c1-16)"

build_k8s() {
	mkdir -p "$K8S_BIN_DIR"
	local started=$SECONDS
	log "building kube-apiserver and kube-controller-manager v$K8S_VERSION (first time only; takes several minutes)"
	# Built from the module proxy, the binaries have no version of their own (v0.0.0-master+$Format:%H$),
	# which client-go's discovery and kubectl cannot parse; Kubernetes' own build sets these through
	# ldflags too.
	local major=${K8S_VERSION%%.*} minor=${K8S_VERSION#*.}
	minor=${minor%%.*}
	local v="" pkg prog out
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		v+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
	done
	# kube-controller-manager only for its garbage collector: tests of owner references need it.
	for prog in kube-apiserver:"$KUBE_APISERVER" kube-controller-manager:"$KUBE_CONTROLLER_MANAGER"; do
		out=${prog#*:}
		(cd "$tools_dir" && GOTOOLCHAIN=local go build -ldflags "-s -w$v" \
			-o "$out.tmp" "k8s.io/kubernetes/cmd/${prog%%:*}")
		mv "$out.tmp" "$out"
	done
	echo "$want_stamp" >"$stamp_file"
	log "kube-apiserver and kube-controller-manager built in $((SECONDS - started))s into $K8S_BIN_DIR"
}

if [[ -x $KUBE_APISERVER && -x $KUBE_CONTROLLER_MANAGER && -f $stamp_file && "$(cat "$stamp_file")" == "$want_stamp" ]]; then
	log "kube-apiserver and kube-controller-manager v$K8S_VERSION already built in $K8S_BIN_DIR"
else
	build_k8s
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
