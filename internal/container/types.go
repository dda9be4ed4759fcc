package container

import "time"

// Labels every runtime puts on sandboxes and containers. They are the
// contract that makes adoption work after an agent restart; keys starting
// with LabelPrefix are reserved and never returned in Labels fields.
const (
	LabelPrefix        = "io.gantry."
	LabelNode          = "io.gantry.node"
	LabelPodName       = "io.gantry.pod.name"
	LabelPodNamespace  = "io.gantry.pod.namespace"
	LabelPodUID        = "io.gantry.pod.uid"
	LabelContainerName = "io.gantry.container.name"
	// LabelAttempt is the container's restart count, or the sandbox's
	// attempt.
	LabelAttempt = "io.gantry.attempt"
)

// Termination reasons of an exited container, as Kubernetes reports them.
const (
	ReasonCompleted          = "Completed"
	ReasonError              = "Error"
	ReasonOOMKilled          = "OOMKilled"
	ReasonContainerCannotRun = "ContainerCannotRun"
)

// NetworkConfig describes a bridge network for pods.
type NetworkConfig struct {
	// Name of the network, e.g. "gantry". Required.
	Name string
	// Subnet in CIDR notation, e.g. "10.244.0.0/16": the cluster's pod
	// CIDR, covering every node's podCIDR. Required, because sandboxes get
	// fixed IPs from it.
	Subnet string
}

// Network is an existing network.
type Network struct {
	ID      string
	Name    string
	Subnet  string
	Gateway string
}

// PodRef identifies the pod a sandbox or container belongs to.
type PodRef struct {
	Name      string
	Namespace string
	UID       string
}

// SandboxConfig describes a pod sandbox.
type SandboxConfig struct {
	Pod PodRef
	// Attempt distinguishes a sandbox from an earlier one of the same pod
	// (0 for the first).
	Attempt int
	// Hostname is the pod's hostname (the pod name, or spec.hostname).
	// Every container of the pod sees it.
	Hostname string
	// Domainname, if set, makes /etc/hosts list Hostname.Domainname for the
	// pod's IP (spec.subdomain: "<subdomain>.<namespace>.svc.<domain>").
	Domainname string
	// DNS, if not nil, is written to the pod's /etc/resolv.conf; nil leaves
	// the runtime's default (the node's resolver).
	DNS *DNSConfig
	// HostAliases are added to the pod's /etc/hosts.
	HostAliases []HostAlias
	Network     SandboxNetwork
	// Ports are published on the node (hostPort); entries with HostPort 0
	// are ignored.
	Ports []PortMapping
	// ShareProcessNamespace puts every container of the pod in the
	// sandbox's PID namespace; the sandbox process is then PID 1 and reaps
	// orphans.
	ShareProcessNamespace bool
	// Sysctls are namespaced kernel parameters set for the pod.
	Sysctls map[string]string
	// Labels are extra labels, returned by SandboxStatus and ListSandboxes.
	Labels map[string]string
}

// SandboxNetwork is either the host's network or an IP on a pod network.
type SandboxNetwork struct {
	// HostNetwork uses the node's network namespace; Network and IP are
	// ignored.
	HostNetwork bool
	// Network is the name of a network made with EnsureNetwork.
	Network string
	// IP is the pod's IPv4 address on Network, from the node's podCIDR.
	IP string
}

// DNSConfig is the content of a pod's /etc/resolv.conf.
type DNSConfig struct {
	Servers  []string
	Searches []string
	// Options are resolv.conf options, e.g. "ndots:5".
	Options []string
}

// HostAlias is one /etc/hosts line.
type HostAlias struct {
	IP        string
	Hostnames []string
}

// PortMapping publishes a container port on the node.
type PortMapping struct {
	// Protocol is "TCP" (default), "UDP" or "SCTP".
	Protocol      string
	ContainerPort int
	HostPort      int
	// HostIP is the node address to bind; empty means all.
	HostIP string
}

// SandboxState is Ready while the sandbox's namespaces are held.
type SandboxState string

// Sandbox states.
const (
	SandboxReady    SandboxState = "Ready"
	SandboxNotReady SandboxState = "NotReady"
)

// Sandbox is a sandbox's current state.
type Sandbox struct {
	ID      string
	Pod     PodRef
	Attempt int
	State   SandboxState
	// IP is the pod's IP, empty with HostNetwork or once stopped.
	IP          string
	HostNetwork bool
	CreatedAt   time.Time
	Labels      map[string]string
}

// SandboxFilter selects sandboxes; zero fields match everything.
type SandboxFilter struct {
	ID     string
	PodUID string
	State  SandboxState
}

// ContainerConfig describes a container of a sandbox.
type ContainerConfig struct {
	// Name is the container's name in the pod spec. Required.
	Name string
	// Attempt is the restart count; a restarted container is a new
	// container with Attempt+1.
	Attempt int
	// Image is the image reference; it must be present (see PullImage).
	Image string
	// Command replaces the image's entrypoint (and drops its default
	// arguments); Args replace the image's default arguments.
	Command []string
	Args    []string
	Env     []EnvVar
	// WorkingDir, if set, replaces the image's working directory.
	WorkingDir string
	Mounts     []Mount
	Resources  Resources
	Security   SecurityConfig
	// Stdin keeps stdin open for Attach; StdinOnce closes it after the
	// first attach ends; TTY allocates a terminal.
	Stdin, StdinOnce, TTY bool
	// PIDNamespaceOf is the ID of a running container of the same sandbox
	// whose PID namespace this one joins (an ephemeral container's
	// targetContainerName); empty: the sandbox's when the pod shares its
	// process namespace, else its own.
	PIDNamespaceOf string
	// Labels are extra labels, returned by ContainerStatus and
	// ListContainers.
	Labels map[string]string
}

// EnvVar is one environment variable.
type EnvVar struct {
	Name, Value string
}

// MountType is the kind of a mount.
type MountType string

// Mount types.
const (
	// MountBind binds a node path (hostPath, emptyDir, configMap, secret …).
	MountBind MountType = "bind"
	// MountTmpfs mounts a fresh memory file system (emptyDir medium Memory).
	MountTmpfs MountType = "tmpfs"
)

// Propagation is a bind mount's propagation (mountPropagation).
type Propagation string

// Propagation modes.
const (
	PropagationPrivate         Propagation = ""
	PropagationHostToContainer Propagation = "HostToContainer"
	PropagationBidirectional   Propagation = "Bidirectional"
)

// Mount is a file system mounted into a container.
type Mount struct {
	Type MountType
	// Source is the node path for MountBind.
	Source string
	// Target is the path in the container.
	Target   string
	ReadOnly bool
	// SizeBytes limits a MountTmpfs; 0 means the runtime's default.
	SizeBytes   int64
	Propagation Propagation
}

// Resources are a container's cgroup limits; zero values mean unlimited.
type Resources struct {
	// CPUShares is the relative CPU weight (Kubernetes: requests.cpu in
	// millicores * 1024 / 1000, at least 2).
	CPUShares int64
	// CPUQuota and CPUPeriod cap CPU time: CPUQuota microseconds per
	// CPUPeriod microseconds (limits.cpu). CPUPeriod 0 means 100000.
	CPUQuota  int64
	CPUPeriod int64
	// MemoryLimitBytes caps memory; the kernel OOM-kills above it.
	MemoryLimitBytes int64
	// PidsLimit caps the number of processes.
	PidsLimit int64
	// OOMScoreAdj is the process's oom_score_adj.
	OOMScoreAdj int
}

// SecurityConfig is a container's security context.
type SecurityConfig struct {
	// RunAsUser and RunAsGroup override the image's user; nil keeps it.
	RunAsUser          *int64
	RunAsGroup         *int64
	SupplementalGroups []int64
	Privileged         bool
	ReadOnlyRootfs     bool
	// CapAdd and CapDrop are capability names, with or without "CAP_"
	// ("NET_ADMIN", "ALL").
	CapAdd, CapDrop []string
	// NoNewPrivileges (allowPrivilegeEscalation: false).
	NoNewPrivileges bool
	// Seccomp is "" for the runtime's default profile (RuntimeDefault),
	// "unconfined", or a JSON profile (Localhost).
	Seccomp string
}

// ContainerState is a container's coarse state.
type ContainerState string

// Container states. A container moves only forward:
//
//	Created ──start──► Running ──exit/stop──► Exited
//	   └──────────start fails───────────────────┘
const (
	ContainerCreated ContainerState = "Created"
	ContainerRunning ContainerState = "Running"
	ContainerExited  ContainerState = "Exited"
	ContainerUnknown ContainerState = "Unknown"
)

// ContainerSummary is what listing containers returns.
type ContainerSummary struct {
	ID        string
	SandboxID string
	Pod       PodRef
	// Name is the container's name in the pod spec.
	Name    string
	Attempt int
	// Image is the reference the container was created from.
	Image     string
	State     ContainerState
	CreatedAt time.Time
	Labels    map[string]string
}

// ContainerStatus is a container's full state.
type ContainerStatus struct {
	ContainerSummary
	// ImageID is the runtime's ID of the image (e.g. "sha256:…").
	ImageID    string
	StartedAt  time.Time
	FinishedAt time.Time
	// ExitCode and Reason are set once Exited. Reason is one of the
	// Reason constants; Message is the runtime's explanation, if any (why
	// it could not run).
	ExitCode int
	Reason   string
	Message  string
}

// ContainerFilter selects containers; zero fields match everything.
type ContainerFilter struct {
	ID        string
	SandboxID string
	PodUID    string
	// Name is the container's name in the pod spec.
	Name  string
	State ContainerState
}

// Image is a locally present image.
type Image struct {
	ID string
	// RepoTags are the references that name it.
	RepoTags []string
	Size     int64
	// User is the image's configured user ("" is root), for runAsNonRoot.
	User string
}
