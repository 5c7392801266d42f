package kubetest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Kubeconfig writes a kubeconfig for the admin into the server's folder and returns its path, for
// programs that take --kubeconfig.
func (s *Server) Kubeconfig() (string, error) {
	path := filepath.Join(s.dir, "admin.kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: s.URL(), CertificateAuthorityData: s.pki.caPEM}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: s.pki.adminToken}
	cfg.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "admin"}
	cfg.CurrentContext = "kubetest"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", fmt.Errorf("kubetest: kubeconfig: %w", err)
	}
	return path, nil
}

// StartGarbageCollector runs kube-controller-manager with only its garbage collector, which deletes
// objects whose owner references name an owner that is gone — what makes owner references mean
// something. It runs until Stop; calling it again does nothing.
func (s *Server) StartGarbageCollector(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kcm != nil {
		select {
		case <-s.kcm.done:
		default:
			return nil
		}
	}
	if _, err := os.Stat(s.bins.ControllerManager); err != nil {
		return fmt.Errorf("%w (%s: %v)", ErrNotInstalled, s.bins.ControllerManager, err)
	}
	kubeconfig, err := s.Kubeconfig()
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	p, err := s.spawn("kube-controller-manager", s.bins.ControllerManager,
		"--kubeconfig="+kubeconfig,
		"--authentication-kubeconfig="+kubeconfig,
		"--authorization-kubeconfig="+kubeconfig,
		"--controllers=garbagecollector",
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir="+filepath.Join(s.dir, "kcm-cert-dir"),
	)
	if err != nil {
		return err
	}
	s.kcm = p
	// Its /healthz is open to anyone (--authorization-always-allow-paths); self-signed, so unverified.
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: insecureTLS()}}
	err = waitFor(ctx, time.Minute, p, func() bool {
		resp, err := hc.Get(fmt.Sprintf("https://127.0.0.1:%d/healthz", port))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		return fmt.Errorf("kubetest: kube-controller-manager: %w%s", err, s.logTail("kube-controller-manager"))
	}
	s.log.InfoContext(ctx, "kubetest: garbage collector running")
	return nil
}
