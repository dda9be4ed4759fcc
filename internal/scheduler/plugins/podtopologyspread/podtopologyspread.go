package podtopologyspread

// Name is the plugin name.
const Name = "PodTopologySpread"

// Plugin implements PodTopologySpread.
type Plugin struct{}

// New returns the plugin.
func New() *Plugin { return &Plugin{} }

// Name implements framework.Plugin.
func (*Plugin) Name() string { return Name }
