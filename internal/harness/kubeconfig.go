package harness

import (
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// WriteKubeconfig mints a client certificate for user (CN) in groups (O) and writes a kubeconfig for it.
func (e *Env) WriteKubeconfig(name, user string, groups ...string) (string, error) {
	certFile, keyFile, err := e.pki.issue("user-"+name, user, groups, false)
	if err != nil {
		return "", err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["harness"] = &clientcmdapi.Cluster{
		Server:               e.Server(),
		CertificateAuthority: e.pki.path("ca.crt"),
	}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificate: certFile, ClientKey: keyFile}
	cfg.Contexts["harness"] = &clientcmdapi.Context{Cluster: "harness", AuthInfo: name, Namespace: "default"}
	cfg.CurrentContext = "harness"
	path := filepath.Join(e.Dir, "kubeconfig-"+name)
	return path, clientcmd.WriteToFile(*cfg, path)
}

// KubeContext is one context of a kubeconfig for several control planes: an Env's admin
// credentials, and its server unless Server replaces it (e.g. a closed loopback port).
type KubeContext struct {
	Name   string
	Env    *Env
	Server string
}

// WriteKubeconfigContexts writes one kubeconfig with a context, cluster and user named after each
// entry; the first is the current context.
func WriteKubeconfigContexts(path string, contexts ...KubeContext) error {
	cfg := clientcmdapi.NewConfig()
	for _, c := range contexts {
		src, err := clientcmd.LoadFromFile(c.Env.Kubeconfig)
		if err != nil {
			return err
		}
		cur := src.Contexts[src.CurrentContext]
		cluster := *src.Clusters[cur.Cluster]
		if c.Server != "" {
			cluster.Server = c.Server
		}
		cfg.Clusters[c.Name], cfg.AuthInfos[c.Name] = &cluster, src.AuthInfos[cur.AuthInfo]
		cfg.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: c.Name, Namespace: cur.Namespace}
	}
	if len(contexts) > 0 {
		cfg.CurrentContext = contexts[0].Name
	}
	return clientcmd.WriteToFile(*cfg, path)
}
