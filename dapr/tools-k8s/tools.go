//go:build tools

// Package tools pins the Kubernetes API server that tests run against (apps/internal/kubetest). Only
// kube-apiserver: the tests talk to it through client-go, so kubectl is not needed.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
