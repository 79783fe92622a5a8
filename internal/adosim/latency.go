package adosim

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// A latency profile gives each area of the API its own answer time, so a
// benchmark meets the shape of the service (slow entitlement pages beside
// quicker Graph pages) rather than one flat figure. Areas are named as the
// exporter's request counts name them.

// LatencyAreas are the areas a profile may name.
var LatencyAreas = []string{"graph", "identity", "entitlements", "core", "git", "audit", "security", "discovery", "accounts", "msgraph", "other"}

// maxLatency bounds each figure of a profile.
const maxLatency = time.Minute

// latencyArea names the area of a request.
func latencyArea(h host, method, path string) string {
	if h == hostMSGraph {
		return "msgraph"
	}
	if method == "OPTIONS" {
		return "discovery"
	}
	_, rest, ok := strings.Cut(strings.ToLower(path), "/_apis/")
	if !ok {
		return "other"
	}
	seg, _, _ := strings.Cut(rest, "/")
	switch seg {
	case "graph":
		return "graph"
	case "identities", "identitybatch":
		return "identity"
	case "userentitlements", "groupentitlements", "serviceprincipalentitlements", "memberentitlements":
		return "entitlements"
	case "projects", "teams":
		return "core"
	case "git":
		return "git"
	case "audit":
		return "audit"
	case "resourceareas", "connectiondata":
		return "discovery"
	case "securitynamespaces", "accesscontrollists", "accesscontrolentries", "permissions", "security":
		return "security"
	case "accounts", "profile":
		return "accounts"
	}
	return "other"
}

// latencyFor is the latency of a request: its area's, else Latency.
func (f Faults) latencyFor(h host, method, path string) time.Duration {
	if d, ok := f.AreaLatency[latencyArea(h, method, path)]; ok {
		return d.D()
	}
	return f.Latency.D()
}

// ParseLatency reads a --latency value: one duration for every request
// ("150ms"), or a profile of area=duration pairs where "default" covers
// the areas not named ("entitlements=300ms,graph=120ms,default=150ms").
func ParseLatency(s string) (flat Duration, areas map[string]Duration, err error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "=") {
		d, err := parseLatencyFigure(s)
		return Duration(d), nil, err
	}
	areas = map[string]Duration{}
	for _, pair := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" {
			return 0, nil, fmt.Errorf("latency %q: want AREA=DURATION pairs separated by commas", pair)
		}
		d, err := parseLatencyFigure(val)
		if err != nil {
			return 0, nil, fmt.Errorf("latency of %s: %w", name, err)
		}
		switch {
		case name == "default":
			flat = Duration(d)
		case slices.Contains(LatencyAreas, name):
			if _, dup := areas[name]; dup {
				return 0, nil, fmt.Errorf("latency of %s is given twice", name)
			}
			areas[name] = Duration(d)
		default:
			return 0, nil, fmt.Errorf("latency: unknown area %q (known: default, %s)", name, strings.Join(LatencyAreas, ", "))
		}
	}
	return flat, areas, nil
}

func parseLatencyFigure(s string) (time.Duration, error) {
	d, err := ParseDuration(strings.TrimSpace(s))
	if err != nil || d < 0 || d > maxLatency {
		return 0, fmt.Errorf("%q: want a duration between 0 and %s, such as 150ms", s, maxLatency)
	}
	return d, nil
}

// checkLatency rejects a profile that names an unknown area or a figure
// out of bounds (from /_sim/faults).
func (f Faults) checkLatency() error {
	for name, d := range f.AreaLatency {
		if !slices.Contains(LatencyAreas, name) {
			return fmt.Errorf("area_latency: unknown area %q (known: %s)", name, strings.Join(LatencyAreas, ", "))
		}
		if d < 0 || d.D() > maxLatency {
			return fmt.Errorf("area_latency of %s: %s is not between 0 and %s", name, d.D(), maxLatency)
		}
	}
	if f.Latency < 0 || f.Latency.D() > maxLatency {
		return fmt.Errorf("latency: %s is not between 0 and %s", f.Latency.D(), maxLatency)
	}
	return nil
}
