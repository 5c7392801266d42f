//go:build tools

// Package tools pins the Kubernetes programs that tests run against (apps/internal/kubetest):
// kube-apiserver, and kube-controller-manager for its garbage collector, which removes what an owner
// reference ties to a deleted owner. The tests talk to them through client-go, so kubectl is not needed.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
