package api

import (
	"fmt"
	"net/netip"
)

// ClusterSettingsName is the ConfigMap in kube-system where the control
// plane publishes the settings every node agent needs (the pod network,
// the service range, cluster DNS), so that `gantry agent` needs no flags
// for them. The server rewrites it on every start.
const ClusterSettingsName = "gantry-cluster"

// ClusterSettings are the cluster-wide network settings.
type ClusterSettings struct {
	// ClusterCIDR is the pod network; every node's podCIDR lies in it.
	ClusterCIDR string
	// ServiceCIDR is the ClusterIP range.
	ServiceCIDR string
	// ClusterDomain is the DNS domain of services, e.g. "cluster.local".
	ClusterDomain string
	// ClusterDNS is the cluster DNS service's IP.
	ClusterDNS string
}

// Data returns the settings as ConfigMap data.
func (s ClusterSettings) Data() map[string]string {
	return map[string]string{
		"clusterCIDR":   s.ClusterCIDR,
		"serviceCIDR":   s.ServiceCIDR,
		"clusterDomain": s.ClusterDomain,
		"clusterDNS":    s.ClusterDNS,
	}
}

// ParseClusterSettings reads settings from ConfigMap data and checks them.
func ParseClusterSettings(data map[string]string) (ClusterSettings, error) {
	s := ClusterSettings{
		ClusterCIDR:   data["clusterCIDR"],
		ServiceCIDR:   data["serviceCIDR"],
		ClusterDomain: data["clusterDomain"],
		ClusterDNS:    data["clusterDNS"],
	}
	for key, v := range map[string]string{"clusterCIDR": s.ClusterCIDR, "serviceCIDR": s.ServiceCIDR} {
		if _, err := netip.ParsePrefix(v); err != nil {
			return s, fmt.Errorf("cluster settings: %s %q: %w", key, v, err)
		}
	}
	if s.ClusterDNS != "" {
		if _, err := netip.ParseAddr(s.ClusterDNS); err != nil {
			return s, fmt.Errorf("cluster settings: clusterDNS %q: %w", s.ClusterDNS, err)
		}
	}
	if s.ClusterDomain == "" {
		s.ClusterDomain = "cluster.local"
	}
	return s, nil
}
