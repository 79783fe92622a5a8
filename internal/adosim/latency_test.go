package adosim

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/core"
)

func TestParseLatency(t *testing.T) {
	flat, areas, err := ParseLatency("150ms")
	if err != nil || flat.D() != 150*time.Millisecond || areas != nil {
		t.Fatalf("150ms: %v %v %v", flat, areas, err)
	}
	flat, areas, err = ParseLatency("entitlements=300ms, graph=120ms,default=150ms")
	if err != nil || flat.D() != 150*time.Millisecond || areas["entitlements"].D() != 300*time.Millisecond || areas["graph"].D() != 120*time.Millisecond || len(areas) != 2 {
		t.Fatalf("profile: %v %v %v", flat, areas, err)
	}
	for in, want := range map[string]string{
		"entitlement=1s":        "unknown area",
		"graph=1s,graph=2s":     "twice",
		"graph=fast":            "want a duration",
		"graph=2h":              "between 0 and 1m0s",
		"-5ms":                  "between 0",
		"graph":                 "want a duration",
		"graph=1s,=2s":          "AREA=DURATION",
		"default=1s,core=-1s":   "latency of core",
		"msgraph=1s,security=x": "latency of security",
	} {
		if _, _, err := ParseLatency(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseLatency(%q) = %v, want an error with %q", in, err, want)
		}
	}
	if _, err := New(Options{Faults: Faults{AreaLatency: map[string]Duration{"nope": 1}}}); err == nil {
		t.Error("New accepted an unknown latency area")
	}
}

// A profile slows the areas it names and leaves the others at the default.
func TestAreaLatency(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Faults: Faults{AreaLatency: map[string]Duration{"entitlements": Duration(300 * time.Millisecond)}}})
	conn := patConn(s, "readonly")
	_, raw := rawEntitlementClient(t, conn)
	cc := mustClient(t, core.NewClient, conn)
	ctx := context.Background()
	start := time.Now()
	if _, err := searchEntitlementPage(ctx, raw, url.Values{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("an entitlement page took %s, want at least the area's 300ms", d)
	}
	start = time.Now()
	if _, err := cc.GetProjects(ctx, core.GetProjectsArgs{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d >= 300*time.Millisecond {
		t.Errorf("a project list took %s: the entitlements' latency reached another area", d)
	}
	for path, want := range map[string]string{
		"/fabrikam/_apis/graph/users":                "graph",
		"/_vsaex/fabrikam/_apis/UserEntitlements":    "entitlements",
		"/fabrikam/_apis/accesscontrollists/5a27":    "security",
		"/fabrikam/_apis/projects/x/teams/y/members": "core",
		"/_vssps/fabrikam/_apis/identities":          "identity",
		"/fabrikam/_apis/resourceAreas":              "discovery",
		"/fabrikam/something":                        "other",
	} {
		if got := latencyArea(hostOrg, "GET", path); got != want {
			t.Errorf("area of %s = %s, want %s", path, got, want)
		}
	}
	if got := latencyArea(hostMSGraph, "GET", "/v1.0/groups"); got != "msgraph" {
		t.Errorf("area of a Microsoft Graph request = %s", got)
	}
}
