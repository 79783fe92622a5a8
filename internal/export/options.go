package export

import (
	"log/slog"
	"strings"

	"github.com/ado-access/ado-access/internal/diff"
)

// DefaultPrivilegedGroups are the groups whose members, direct or nested,
// have privileged access unless --privileged-groups says otherwise.
var DefaultPrivilegedGroups = []string{
	"Project Collection Administrators",
	"Project Collection Service Accounts",
	"Project Administrators",
	"Build Administrators",
	"Endpoint Administrators",
	"Release Administrators",
}

// Defaults of Options.
const (
	DefaultDormantDays   = diff.DefaultDormantDays
	DefaultMaxPrivileged = 10
)

// Options shape an export: which run, and how dormant and privileged
// access are judged.
type Options struct {
	// Run is the run to export (0: the newest complete run of Org).
	Run int64
	Org string // organization URL; "" for any
	// DormantDays: an account is dormant when its last access (or, if it
	// never signed in, the assignment of its access level) is at least
	// this many days before the run's snapshot time (0: 90).
	DormantDays int
	// PrivilegedGroups name the privileged groups, each by display name
	// ("Project Administrators": in every project), principal name
	// ("[fabrikam]\Security Admins") or descriptor; case does not matter.
	// Empty: DefaultPrivilegedGroups.
	PrivilegedGroups []string
	// MaxPrivileged is the most members a privileged group should have
	// before it is a finding (0: 10).
	MaxPrivileged int
	// AllPermissions lists every effective permission of every account in
	// effective_permissions. Without it a packet lists the privileged ones
	// only (PrivilegedPermissions): every permission of every account can
	// be tens of millions of rows, too many to review; the warehouse always
	// has them all.
	AllPermissions bool
	// MaxPATDays: a personal access token valid longer than this is a
	// finding (0: 90).
	MaxPATDays int
	// ToolVersion goes into the manifest ("exporter v1.2.3 (0123abc)").
	ToolVersion string
	// Version and Commit are the build's (main.version and main.commit,
	// stamped by the Makefile), for the created_by of Parquet files;
	// Version "" is "dev".
	Version, Commit string
	Logger          *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.DormantDays == 0 {
		o.DormantDays = DefaultDormantDays
	}
	if len(o.PrivilegedGroups) == 0 {
		o.PrivilegedGroups = DefaultPrivilegedGroups
	}
	if o.MaxPrivileged == 0 {
		o.MaxPrivileged = DefaultMaxPrivileged
	}
	if o.MaxPATDays == 0 {
		o.MaxPATDays = defaultMaxPATDays
	}
	if o.ToolVersion == "" {
		o.ToolVersion = "dev"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// privileged matches groups against Options.PrivilegedGroups.
type privileged map[string]bool

func newPrivileged(names []string) privileged {
	p := privileged{}
	for _, n := range names {
		if n = strings.TrimSpace(n); n != "" {
			p[strings.ToLower(n)] = true
		}
	}
	return p
}

// match reports whether a group is privileged. Names match Azure DevOps
// groups only: the privileged groups are Azure DevOps' own, and an Entra
// group that happens to be called "Project Administrators" is not one
// (name it by descriptor to include it).
func (p privileged) match(descriptor, display, principal string) bool {
	if p[strings.ToLower(descriptor)] {
		return true
	}
	if !strings.HasPrefix(descriptor, "vssgp.") {
		return false
	}
	return p[strings.ToLower(display)] || p[strings.ToLower(principal)]
}
