package server

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"github.com/gantry-dev/gantry/internal/controller/cronjob"
	"github.com/gantry-dev/gantry/internal/controller/daemonset"
	"github.com/gantry-dev/gantry/internal/controller/deployment"
	"github.com/gantry-dev/gantry/internal/controller/job"
	"github.com/gantry-dev/gantry/internal/controller/replicaset"
	"github.com/gantry-dev/gantry/internal/controller/statefulset"
)

// workloadControllers holds the workload controllers (issue 4, items 5
// and 6: ReplicaSet, Deployment, Job, CronJob, DaemonSet, StatefulSet),
// which use the controllers' shared informer factory (startControllers).
type workloadControllers struct {
	runs       map[string]func(context.Context) error
	collectors []prometheus.Collector
}

// newWorkloadControllers builds the workload controllers, each writing with
// its own client and recording events through events. In-process clients are not rate limited: the API server is
// on loopback and a client-side limit would only slow rollouts down.
func newWorkloadControllers(clientConfig func(name string) *rest.Config, factory informers.SharedInformerFactory, events record.EventBroadcaster, log *slog.Logger) (workloadControllers, error) {
	set := workloadControllers{runs: map[string]func(context.Context) error{}}
	client := func(name string) (kubernetes.Interface, error) {
		c := clientConfig(name)
		c.QPS, c.Burst = -1, 0
		kube, err := kubernetes.NewForConfig(c)
		if err != nil {
			return nil, fmt.Errorf("%s controller client: %w", name, err)
		}
		return kube, nil
	}
	rsClient, err := client(replicaset.Name)
	if err != nil {
		return set, err
	}
	replicasetCfg := replicaset.DefaultConfig()
	replicasetCfg.Events = events
	rs, err := replicaset.New(replicasetCfg, rsClient, factory, log)
	if err != nil {
		return set, err
	}
	set.runs[replicaset.Name] = rs.Run
	set.collectors = append(set.collectors, rs.Controller().Collectors()...)

	dClient, err := client(deployment.Name)
	if err != nil {
		return set, err
	}
	deploymentCfg := deployment.DefaultConfig()
	deploymentCfg.Events = events
	deployments, err := deployment.New(deploymentCfg, dClient, factory, log)
	if err != nil {
		return set, err
	}
	set.runs[deployment.Name] = deployments.Run
	set.collectors = append(set.collectors, deployments.Controller().Collectors()...)

	jClient, err := client(job.Name)
	if err != nil {
		return set, err
	}
	jobCfg := job.DefaultConfig()
	jobCfg.Events = events
	jobs, err := job.New(jobCfg, jClient, factory, log)
	if err != nil {
		return set, err
	}
	set.runs[job.Name] = jobs.Run
	set.collectors = append(set.collectors, jobs.Controller().Collectors()...)

	cjClient, err := client(cronjob.Name)
	if err != nil {
		return set, err
	}
	cronjobCfg := cronjob.DefaultConfig()
	cronjobCfg.Events = events
	cronJobs, err := cronjob.New(cronjobCfg, cjClient, factory, log)
	if err != nil {
		return set, err
	}
	set.runs[cronjob.Name] = cronJobs.Run
	set.collectors = append(set.collectors, cronJobs.Controller().Collectors()...)

	dsClient, err := client(daemonset.Name)
	if err != nil {
		return set, err
	}
	daemonsetCfg := daemonset.DefaultConfig()
	daemonsetCfg.Events = events
	daemonSets, err := daemonset.New(daemonsetCfg, dsClient, factory, log)
	if err != nil {
		return set, err
	}
	set.runs[daemonset.Name] = daemonSets.Run
	set.collectors = append(set.collectors, daemonSets.Controller().Collectors()...)

	ssClient, err := client(statefulset.Name)
	if err != nil {
		return set, err
	}
	statefulsetCfg := statefulset.DefaultConfig()
	statefulsetCfg.Events = events
	statefulSets, err := statefulset.New(statefulsetCfg, ssClient, factory, log)
	if err != nil {
		return set, err
	}
	set.runs[statefulset.Name] = statefulSets.Run
	set.collectors = append(set.collectors, statefulSets.Controller().Collectors()...)

	return set, nil
}
