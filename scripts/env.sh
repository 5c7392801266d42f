# shellcheck shell=bash
# Shared settings for the project's scripts. Sourced, never executed.
# Every value can be overridden from the environment.

MP_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export MP_ROOT

# Dapr versions: the runtime (daprd, sentry, operator; dapr/tools/go.mod) and the CLI (dapr/tools-cli/go.mod).
# They differ because the module proxy refuses the source of CLI 1.17 and 1.18; CLI 1.16.5 runs daprd 1.18.
# Both build with the Go on PATH.
export DAPR_VERSION=${DAPR_VERSION:-1.18.1}
export DAPR_CLI_VERSION=${DAPR_CLI_VERSION:-1.16.5}

# Which daprd: "lean", the project's own (dapr/tools/daprd: dapr's runtime with only the components the plane
# uses; a third of the build time and less memory per sidecar), or "all", dapr's daprd with every component
# (-tags allcomponents), for trying components the plane does not use.
export DAPRD_COMPONENTS=${DAPRD_COMPONENTS:-lean}
case $DAPRD_COMPONENTS in
lean) dapr_flavor_suffix="" ;;
all) dapr_flavor_suffix="-all" ;;
*)
	echo "DAPRD_COMPONENTS=$DAPRD_COMPONENTS: use lean or all" >&2
	return 1 2>/dev/null || exit 1
	;;
esac

# Built binaries are cached per version and flavour, so switching flavours rebuilds nothing that was built
# before; the folder is git-ignored. The CLI finds daprd through DAPR_RUNTIME_PATH, the folder that contains
# .dapr/bin (its --runtime-path flag is ignored for run files). The lean build has the plain folder name
# because the tests, run without this file, look there (apps/internal/stacktest).
export MP_CACHE_DIR=${MP_CACHE_DIR:-$MP_ROOT/.cache}
export DAPR_RUNTIME_PATH=${DAPR_RUNTIME_PATH:-$MP_CACHE_DIR/dapr/$DAPR_VERSION$dapr_flavor_suffix}
export DAPR_BIN_DIR=$DAPR_RUNTIME_PATH/.dapr/bin
export DAPRD=$DAPR_BIN_DIR/daprd
export DAPR_SENTRY=$DAPR_BIN_DIR/sentry
export DAPR_OPERATOR=$DAPR_BIN_DIR/operator
export DAPR_CLI_DIR=$MP_CACHE_DIR/dapr-cli/$DAPR_CLI_VERSION
export DAPR_CLI=$DAPR_CLI_DIR/dapr

# The Kubernetes API server the tests run against (apps/internal/kubetest; scripts/install-k8s.sh builds it)
# and the etcd it stores into (Debian's etcd-server).
export K8S_VERSION=${K8S_VERSION:-1.34.2}
export K8S_BIN_DIR=$MP_CACHE_DIR/k8s/$K8S_VERSION
export KUBE_APISERVER=${KUBE_APISERVER:-$K8S_BIN_DIR/kube-apiserver}
export KUBE_CONTROLLER_MANAGER=${KUBE_CONTROLLER_MANAGER:-$K8S_BIN_DIR/kube-controller-manager}
export ETCD=${ETCD:-etcd}

# Local data (state store, name resolution, redis, logs); git-ignored, survives restarts.
export MP_DATA_DIR=${MP_DATA_DIR:-$MP_ROOT/.data}
export MP_REDIS_PORT=${MP_REDIS_PORT:-6391}
# The local PostgreSQL that can hold the Registry (scripts/postgres.sh); under root it runs as this user.
export MP_POSTGRES_PORT=${MP_POSTGRES_PORT:-5491}
export MP_POSTGRES_USER=${MP_POSTGRES_USER:-mgmtplane-pg}

# daprd looks for an external address unless told otherwise, and may exit when it finds none.
export DAPR_HOST_IP=${DAPR_HOST_IP:-127.0.0.1}

log() { printf '%s %s\n' "[$(basename "$0")]" "$*" >&2; }
die() { log "error: $*"; exit 1; }
