package apiserver

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gantry-dev/gantry/internal/api"
)

// Streaming subresources of pods, proxied to the agent of the pod's node.
const (
	subLog         = "log"
	subExec        = "exec"
	subAttach      = "attach"
	subPortForward = "portforward"
)

func isStreamingSubresource(res *api.Resource, sub string) bool {
	if res.GVR.Group != "" || res.GVR.Resource != "pods" {
		return false
	}
	switch sub {
	case subLog, subExec, subAttach, subPortForward:
		return true
	}
	return false
}

// handleNodeStream serves pods/log, exec, attach and portforward: it finds
// the pod's node and its agent's streaming endpoint and proxies the
// request there (upgraded connections included), as kube-apiserver proxies
// to the kubelet.
func (s *Server) handleNodeStream(w http.ResponseWriter, r *http.Request, req *request) error {
	if s.cfg.NodeTransport == nil {
		return apierrors.NewServiceUnavailable("this API server cannot reach node agents")
	}
	obj, err := req.store.get(r.Context(), req.namespace, req.name)
	if err != nil {
		return err
	}
	pod := obj.(*corev1.Pod)
	q := r.URL.Query()
	var path string
	target := url.Values{}
	switch req.subresource {
	case subPortForward:
		path = fmt.Sprintf("/portForward/%s/%s", pod.Namespace, pod.Name)
		if p := q["ports"]; len(p) > 0 {
			target["port"] = p
		}
	default:
		name, err := containerOf(pod, q.Get("container"), req.subresource)
		if err != nil {
			return err
		}
		switch req.subresource {
		case subLog:
			path = fmt.Sprintf("/containerLogs/%s/%s/%s", pod.Namespace, pod.Name, name)
			for _, k := range []string{"follow", "previous", "timestamps", "tailLines", "sinceSeconds", "sinceTime", "limitBytes"} {
				if v := q.Get(k); v != "" {
					target.Set(k, v)
				}
			}
			if _, err := strconv.ParseInt(q.Get("tailLines"), 10, 64); q.Get("tailLines") != "" && err != nil {
				return apierrors.NewBadRequest(fmt.Sprintf("tailLines: %v", err))
			}
		case subExec, subAttach:
			verb := "exec"
			if req.subresource == subAttach {
				verb = "attach"
			}
			path = fmt.Sprintf("/%s/%s/%s/%s", verb, pod.Namespace, pod.Name, name)
			if req.subresource == subExec {
				if len(q["command"]) == 0 {
					return apierrors.NewBadRequest("you must specify at least one command for the container")
				}
				target["command"] = q["command"]
			}
			for from, to := range map[string]string{"stdin": "input", "stdout": "output", "stderr": "error", "tty": "tty"} {
				if b, _ := strconv.ParseBool(q.Get(from)); b {
					target.Set(to, "1")
				}
			}
		}
	}
	host, err := s.nodeEndpoint(r, pod)
	if err != nil {
		return err
	}
	u := &url.URL{Scheme: "https", Host: host, Path: path, RawQuery: target.Encode()}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = u
			pr.Out.Host = u.Host
			pr.Out.Header.Del("Authorization")
		},
		Transport:     s.cfg.NodeTransport,
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode >= 400 && resp.StatusCode != http.StatusSwitchingProtocols {
				// The agent explains itself in plain text: turn it into a
				// Status as kubectl expects.
				// (ReverseProxy closes the body before its ErrorHandler runs.)
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
				return agentError{code: resp.StatusCode, msg: strings.TrimSpace(string(b))}
			}
			return nil
		},
	}
	proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if ae, ok := err.(agentError); ok {
			s.writeError(w, r, ae.status())
			return
		}
		s.writeError(w, r, apierrors.NewServiceUnavailable(fmt.Sprintf("error dialing backend: %v", err)))
	}
	proxy.ServeHTTP(w, r)
	return nil
}

// agentError carries an agent's error answer to the ErrorHandler.
type agentError struct {
	code int
	msg  string
}

func (e agentError) Error() string { return http.StatusText(e.code) }

func (e agentError) status() error {
	msg := e.msg
	switch e.code {
	case http.StatusNotFound:
		return apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, msg)
	case http.StatusBadRequest:
		return apierrors.NewBadRequest(msg)
	}
	return apierrors.NewInternalError(fmt.Errorf("%s", msg))
}

// containerOf picks the container a streaming request is for: the named
// one, or the pod's only container (kubectl names one whenever there are
// several).
func containerOf(pod *corev1.Pod, name, sub string) (string, error) {
	all := append(append([]corev1.Container{}, pod.Spec.Containers...), pod.Spec.InitContainers...)
	if name == "" {
		if len(pod.Spec.Containers) == 1 {
			return pod.Spec.Containers[0].Name, nil
		}
		names := make([]string, 0, len(all))
		for _, c := range pod.Spec.Containers {
			names = append(names, c.Name)
		}
		var init []string
		for _, c := range pod.Spec.InitContainers {
			init = append(init, c.Name)
		}
		msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", pod.Name, names)
		if len(init) > 0 {
			msg += fmt.Sprintf(" or one of the init containers: %v", init)
		}
		return "", apierrors.NewBadRequest(msg)
	}
	for _, c := range all {
		if c.Name == name {
			return name, nil
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return name, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
}

// nodeEndpoint returns host:port of the agent of the pod's node.
func (s *Server) nodeEndpoint(r *http.Request, pod *corev1.Pod) (string, error) {
	if pod.Spec.NodeName == "" {
		return "", apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name))
	}
	nodes := s.cfg.Registry.Get(schema.GroupVersionResource{Version: "v1", Resource: "nodes"})
	obj, err := s.objectStore(nodes).get(r.Context(), "", pod.Spec.NodeName)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return "", apierrors.NewBadRequest(fmt.Sprintf("node %s of pod %s not found", pod.Spec.NodeName, pod.Name))
		}
		return "", err
	}
	return nodeHost(obj.(*corev1.Node))
}

// nodeHost returns host:port of a node's agent streaming endpoint.
func nodeHost(node *corev1.Node) (string, error) {
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	if port == 0 {
		return "", apierrors.NewServiceUnavailable(fmt.Sprintf("node %s publishes no agent endpoint", node.Name))
	}
	var addr string
	for _, t := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName} {
		for _, a := range node.Status.Addresses {
			if a.Type == t && addr == "" {
				addr = a.Address
			}
		}
	}
	if addr == "" {
		return "", apierrors.NewServiceUnavailable(fmt.Sprintf("node %s has no address", node.Name))
	}
	return net.JoinHostPort(addr, strconv.Itoa(int(port))), nil
}
