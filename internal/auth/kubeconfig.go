package auth

import (
	"errors"
	"fmt"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KubeconfigName is the name of the cluster, user and context in the
// kubeconfig files written here.
const KubeconfigName = "gantry"

// WriteKubeconfig writes a kubeconfig for serverURL that authenticates with
// a client certificate. The CA, certificate and key are embedded. The file is
// replaced atomically and gets mode 0600; a missing parent directory is
// created with mode 0700.
func WriteKubeconfig(path, serverURL string, caPEM, certPEM, keyPEM []byte) error {
	if len(certPEM) == 0 || len(keyPEM) == 0 {
		return errors.New("auth: kubeconfig needs a client certificate and key")
	}
	return writeKubeconfig(path, serverURL, caPEM, &clientcmdapi.AuthInfo{
		ClientCertificateData: certPEM,
		ClientKeyData:         keyPEM,
	})
}

// WriteTokenKubeconfig is WriteKubeconfig for a bearer token.
func WriteTokenKubeconfig(path, serverURL string, caPEM []byte, token string) error {
	if err := validateToken(token); err != nil {
		return err
	}
	return writeKubeconfig(path, serverURL, caPEM, &clientcmdapi.AuthInfo{Token: token})
}

func writeKubeconfig(path, serverURL string, caPEM []byte, user *clientcmdapi.AuthInfo) error {
	if path == "" || serverURL == "" {
		return errors.New("auth: kubeconfig needs a path and a server URL")
	}
	if len(caPEM) == 0 {
		return errors.New("auth: kubeconfig needs a CA certificate")
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[KubeconfigName] = &clientcmdapi.Cluster{
		Server:                   serverURL,
		CertificateAuthorityData: caPEM,
	}
	cfg.AuthInfos[KubeconfigName] = user
	cfg.Contexts[KubeconfigName] = &clientcmdapi.Context{
		Cluster:  KubeconfigName,
		AuthInfo: KubeconfigName,
	}
	cfg.CurrentContext = KubeconfigName
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("auth: encode kubeconfig: %w", err)
	}
	if err := ensureDir(filepath.Dir(path)); err != nil {
		return err
	}
	return writeFileAtomic(path, data, 0o600)
}
