package api

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	discoveryv1beta1 "k8s.io/api/discovery/v1beta1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func printIngressTable() *TableConvertor {
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Class", "string", "The name of the IngressClass resource that should be used for additional configuration"),
			printCol("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
			printCol("Address", "string", "Address is a list containing ingress points for the load-balancer"),
			printCol("Ports", "string", "Ports of TLS configurations that open"),
			printAgeColumn(),
		},
		func(ing *networkingv1.Ingress, now time.Time) []interface{} {
			class := "<none>"
			if ing.Spec.IngressClassName != nil {
				class = *ing.Spec.IngressClassName
			}
			addrs := make([]string, 0, len(ing.Status.LoadBalancer.Ingress))
			for _, in := range ing.Status.LoadBalancer.Ingress {
				if in.IP != "" {
					addrs = append(addrs, in.IP)
				} else if in.Hostname != "" {
					addrs = append(addrs, in.Hostname)
				}
			}
			ports := "80"
			if len(ing.Spec.TLS) != 0 {
				ports = "80, 443"
			}
			return []interface{}{
				ing.Name, class, printIngressHosts(ing.Spec.Rules), printJoinAddresses(addrs), ports,
				printAge(ing.CreationTimestamp, now),
			}
		},
	)
}

// printIngressHosts lists up to three rule hosts and how many rules more
// there are; "*" when no rule names a host.
func printIngressHosts(rules []networkingv1.IngressRule) string {
	const max = 3
	var list []string
	more := false
	for _, rule := range rules {
		if len(list) == max {
			more = true
		}
		if !more && rule.Host != "" {
			list = append(list, rule.Host)
		}
	}
	if len(list) == 0 {
		return "*"
	}
	ret := strings.Join(list, ",")
	if more {
		return fmt.Sprintf("%s + %d more...", ret, len(rules)-max)
	}
	return ret
}

func printIngressClassTable() *TableConvertor {
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Controller", "string", "Controller that is responsible for handling this class"),
			printCol("Parameters", "string", "A reference to a resource with additional parameters"),
			printAgeColumn(),
		},
		func(ic *networkingv1.IngressClass, now time.Time) []interface{} {
			params := "<none>"
			if p := ic.Spec.Parameters; p != nil {
				params = p.Kind
				if p.APIGroup != nil {
					params += "." + *p.APIGroup
				}
				params += "/" + p.Name
			}
			return []interface{}{ic.Name, ic.Spec.Controller, params, printAge(ic.CreationTimestamp, now)}
		},
	)
}

func printNetworkPolicyTable() *TableConvertor {
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Pod-Selector", "string", extensionsv1beta1.NetworkPolicySpec{}.SwaggerDoc()["podSelector"]),
			printAgeColumn(),
		},
		func(np *networkingv1.NetworkPolicy, now time.Time) []interface{} {
			return []interface{}{np.Name, metav1.FormatLabelSelector(&np.Spec.PodSelector), printAge(np.CreationTimestamp, now)}
		},
	)
}

func printEndpointSliceTable() *TableConvertor {
	doc := discoveryv1beta1.EndpointSlice{}.SwaggerDoc()
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("AddressType", "string", doc["addressType"]),
			printCol("Ports", "string", doc["ports"]),
			printCol("Endpoints", "string", doc["endpoints"]),
			printAgeColumn(),
		},
		func(es *discoveryv1.EndpointSlice, now time.Time) []interface{} {
			return []interface{}{
				es.Name, string(es.AddressType), printSlicePorts(es.Ports), printSliceEndpoints(es.Endpoints),
				printAge(es.CreationTimestamp, now),
			}
		},
	)
}

// printSlicePorts lists up to three port numbers ("*" when a port has
// neither number nor name); "<unset>" when there are none.
func printSlicePorts(ports []discoveryv1.EndpointPort) string {
	const max = 3
	var list []string
	more := false
	for _, p := range ports {
		if len(list) < max {
			num := "*"
			if p.Port != nil {
				num = strconv.Itoa(int(*p.Port))
			} else if p.Name != nil {
				num = *p.Name
			}
			list = append(list, num)
		} else {
			more = true
		}
	}
	return printListWithMore(list, more, len(ports), max)
}

// printSliceEndpoints lists up to three endpoint addresses.
func printSliceEndpoints(endpoints []discoveryv1.Endpoint) string {
	const max = 3
	var list []string
	more := false
	count := 0
	for _, ep := range endpoints {
		for _, addr := range ep.Addresses {
			if len(list) < max {
				list = append(list, addr)
			} else {
				more = true
			}
			count++
		}
	}
	return printListWithMore(list, more, count, max)
}
