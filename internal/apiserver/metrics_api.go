package apiserver

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/gantry-dev/gantry/internal/api"
	"github.com/gantry-dev/gantry/internal/storage"
)

// The resource metrics API (metrics.k8s.io/v1beta1), which kubectl top and
// autoscalers read. In Kubernetes metrics-server scrapes kubelets and
// serves it through aggregation; here the API server asks the node agents
// (GET /stats/resource on their streaming endpoint) when a request comes.
const metricsGroup = "metrics.k8s.io"

var metricsGV = schema.GroupVersion{Group: metricsGroup, Version: "v1beta1"}

func metricsAPIGroup() metav1.APIGroup {
	v := metav1.GroupVersionForDiscovery{GroupVersion: metricsGV.String(), Version: metricsGV.Version}
	return metav1.APIGroup{Name: metricsGroup, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v}
}

func metricsResourceList() *metav1.APIResourceList {
	return &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: metricsGV.String(),
		APIResources: []metav1.APIResource{
			{Name: "nodes", SingularName: "", Namespaced: false, Kind: "NodeMetrics", Verbs: metav1.Verbs{"get", "list"}},
			{Name: "pods", SingularName: "", Namespaced: true, Kind: "PodMetrics", Verbs: metav1.Verbs{"get", "list"}},
		},
	}
}

// serveMetricsAPI serves /apis/metrics.k8s.io[/v1beta1[/...]].
func (s *Server) serveMetricsAPI(w http.ResponseWriter, r *http.Request) {
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, "/apis/"+metricsGroup), "/")
	parts := strings.Split(rest, "/")
	if rest == "" {
		g := metricsAPIGroup()
		g.Kind, g.APIVersion = "APIGroup", "v1"
		s.writeJSON(w, g)
		return
	}
	if parts[0] != metricsGV.Version {
		s.writeError(w, r, notFound())
		return
	}
	parts = parts[1:]
	if len(parts) == 0 {
		s.writeJSON(w, metricsResourceList())
		return
	}
	if r.Method != http.MethodGet {
		s.writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{Group: metricsGroup, Resource: parts[0]}, r.Method))
		return
	}
	if r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1" {
		s.writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{Group: metricsGroup, Resource: parts[len(parts)-1]}, "watch"))
		return
	}
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		s.writeError(w, r, apierrors.NewBadRequest(err.Error()))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	var ns, name string
	switch {
	case parts[0] == "nodes" && len(parts) <= 2:
		if len(parts) == 2 {
			name = parts[1]
		}
		s.serveNodeMetrics(ctx, w, r, name, sel)
		return
	case parts[0] == "pods" && len(parts) == 1:
	case parts[0] == "namespaces" && len(parts) >= 3 && parts[2] == "pods" && len(parts) <= 4:
		ns = parts[1]
		if len(parts) == 4 {
			name = parts[3]
		}
	default:
		s.writeError(w, r, notFound())
		return
	}
	s.servePodMetrics(ctx, w, r, ns, name, sel)
}

func (s *Server) writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", mediaJSON)
	_ = json.NewEncoder(w).Encode(v)
}

// listAll lists every object of a core resource in ns ("" for all).
func (s *Server) listAll(ctx context.Context, resource, ns string) ([]any, error) {
	res := s.cfg.Registry.Get(schema.GroupVersionResource{Version: "v1", Resource: resource})
	store := s.objectStore(res)
	out, err := s.cfg.Storage.List(ctx, store.prefix(ns), storage.ListOptions{})
	if err != nil {
		return nil, err
	}
	objs := make([]any, 0, len(out.Items))
	for _, kv := range out.Items {
		obj, err := store.decode(kv)
		if err != nil {
			return nil, err
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

// nodeStats asks every node's agent for its usage, in parallel. Nodes
// whose agent does not answer are left out, as metrics-server leaves out
// nodes it cannot scrape.
func (s *Server) nodeStats(ctx context.Context) (map[string]*api.NodeStats, []*corev1.Node, error) {
	objs, err := s.listAll(ctx, "nodes", "")
	if err != nil {
		return nil, nil, err
	}
	var nodes []*corev1.Node
	out := map[string]*api.NodeStats{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, o := range objs {
		node := o.(*corev1.Node)
		nodes = append(nodes, node)
		host, err := nodeHost(node)
		if err != nil || s.cfg.NodeTransport == nil {
			continue
		}
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+"/stats/resource", nil)
			if err != nil {
				return
			}
			resp, err := s.cfg.NodeTransport.RoundTrip(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			var st api.NodeStats
			if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&st) != nil || st.Timestamp.IsZero() {
				return
			}
			mu.Lock()
			out[node.Name] = &st
			mu.Unlock()
		})
	}
	wg.Wait()
	return out, nodes, nil
}

func usageList(u api.Usage) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewScaledQuantity(int64(u.CPUNanoCores), resource.Nano),
		corev1.ResourceMemory: *resource.NewQuantity(int64(u.MemoryWorkingSetBytes), resource.BinarySI),
	}
}

func (s *Server) serveNodeMetrics(ctx context.Context, w http.ResponseWriter, r *http.Request, name string, sel labels.Selector) {
	stats, nodes, err := s.nodeStats(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list := metricsv1beta1.NodeMetricsList{TypeMeta: metav1.TypeMeta{Kind: "NodeMetricsList", APIVersion: metricsGV.String()}, Items: []metricsv1beta1.NodeMetrics{}}
	for _, n := range nodes {
		st := stats[n.Name]
		if st == nil || st.Window == 0 || name != "" && n.Name != name || !sel.Matches(labels.Set(n.Labels)) {
			continue
		}
		list.Items = append(list.Items, metricsv1beta1.NodeMetrics{
			ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels, CreationTimestamp: metav1.Now()},
			Timestamp:  metav1.NewTime(st.Timestamp),
			Window:     metav1.Duration{Duration: st.Window},
			Usage:      usageList(st.Usage),
		})
	}
	if name != "" {
		if len(list.Items) == 0 {
			s.writeError(w, r, apierrors.NewNotFound(schema.GroupResource{Group: metricsGroup, Resource: "nodes"}, name))
			return
		}
		item := list.Items[0]
		item.Kind, item.APIVersion = "NodeMetrics", metricsGV.String()
		s.writeJSON(w, item)
		return
	}
	s.writeJSON(w, list)
}

func (s *Server) servePodMetrics(ctx context.Context, w http.ResponseWriter, r *http.Request, ns, name string, sel labels.Selector) {
	stats, _, err := s.nodeStats(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	objs, err := s.listAll(ctx, "pods", ns)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	byKey := map[string]api.PodStats{}
	for _, st := range stats {
		for _, p := range st.Pods {
			byKey[p.Namespace+"/"+p.Name] = p
		}
	}
	list := metricsv1beta1.PodMetricsList{TypeMeta: metav1.TypeMeta{Kind: "PodMetricsList", APIVersion: metricsGV.String()}, Items: []metricsv1beta1.PodMetrics{}}
	for _, o := range objs {
		pod := o.(*corev1.Pod)
		if name != "" && pod.Name != name || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		ps, ok := byKey[pod.Namespace+"/"+pod.Name]
		if !ok {
			continue
		}
		pm := metricsv1beta1.PodMetrics{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, Labels: pod.Labels, CreationTimestamp: metav1.Now()},
			Timestamp:  metav1.NewTime(ps.Timestamp),
			Window:     metav1.Duration{Duration: ps.Window},
		}
		for _, c := range ps.Containers {
			pm.Containers = append(pm.Containers, metricsv1beta1.ContainerMetrics{Name: c.Name, Usage: usageList(c.Usage)})
		}
		list.Items = append(list.Items, pm)
	}
	if name != "" {
		if len(list.Items) == 0 {
			s.writeError(w, r, apierrors.NewNotFound(schema.GroupResource{Group: metricsGroup, Resource: "pods"}, name))
			return
		}
		item := list.Items[0]
		item.Kind, item.APIVersion = "PodMetrics", metricsGV.String()
		s.writeJSON(w, item)
		return
	}
	s.writeJSON(w, list)
}
