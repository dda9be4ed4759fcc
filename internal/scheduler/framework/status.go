package framework

import "strings"

// Code is the outcome of a plugin call.
type Code int

const (
	// Success: the node fits (a nil *Status means Success too).
	Success Code = iota
	// Unschedulable: the node does not fit now; evicting pods from it
	// (preemption) might make it fit.
	Unschedulable
	// UnschedulableAndUnresolvable: the node does not fit and removing pods
	// from it would not help.
	UnschedulableAndUnresolvable
	// Error: the plugin could not decide (a bug or invalid input).
	Error
)

// Status is a plugin's verdict with human-readable reasons.
type Status struct {
	code    Code
	reasons []string
	plugin  string
}

// NewStatus returns a Status with code and reasons.
func NewStatus(code Code, reasons ...string) *Status {
	return &Status{code: code, reasons: reasons}
}

// Code returns the status code; a nil Status is Success.
func (s *Status) Code() Code {
	if s == nil {
		return Success
	}
	return s.code
}

// IsSuccess reports whether s is nil or has code Success.
func (s *Status) IsSuccess() bool { return s.Code() == Success }

// Reasons returns the reasons given.
func (s *Status) Reasons() []string {
	if s == nil {
		return nil
	}
	return s.reasons
}

// Plugin returns the name of the plugin that returned s, once the
// scheduler has recorded it.
func (s *Status) Plugin() string {
	if s == nil {
		return ""
	}
	return s.plugin
}

// WithPlugin records the plugin that returned s and returns s.
func (s *Status) WithPlugin(name string) *Status {
	if s != nil {
		s.plugin = name
	}
	return s
}

// Message joins the reasons with ", ".
func (s *Status) Message() string { return strings.Join(s.Reasons(), ", ") }

func (s *Status) String() string {
	if s == nil {
		return "Success"
	}
	return s.plugin + ": " + s.Message()
}
