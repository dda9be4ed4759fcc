package interpodaffinity

// Name is the plugin name.
const Name = "InterPodAffinity"

// Plugin implements InterPodAffinity.
type Plugin struct{}

// New returns the plugin.
func New() *Plugin { return &Plugin{} }

// Name implements framework.Plugin.
func (*Plugin) Name() string { return Name }
