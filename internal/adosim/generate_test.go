package adosim

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
)

// dumpOrg writes the whole state of an organization in a canonical text
// form: every subject (tombstones too), membership, entitlement, project,
// team, repository, group rule and audit entry.
func dumpOrg(o *Org) string {
	o.mu.RLock()
	defer o.mu.RUnlock()
	var b strings.Builder
	fmt.Fprintf(&b, "org %q %s %s\n", o.Name, o.ID, o.TenantID)
	for _, s := range o.subjects {
		fmt.Fprintf(&b, "subject %d %s %q %q %s %s %q %q %q %q %q %q %q %q %q %q %q %q %v %v %q %v\n",
			s.seq, s.Kind, s.Type, s.Descriptor, s.ID, s.Origin, s.OriginID, s.MetaType, s.DisplayName, s.PrincipalName,
			s.Mail, s.Domain, s.DirectoryAlias, s.Description, s.ApplicationID, s.ProjectID, s.SID, s.Legacy,
			s.DeletedOrigin, s.Builtin, s.TeamID, s.Deleted)
		if e := s.Ent; e != nil {
			fmt.Fprintf(&b, "  ent %s %s %s %s %s %s %s %s\n", e.AccountLicenseType, e.LicensingSource, e.MsdnLicenseType,
				e.Status, e.AssignmentSource, e.GroupRuleID, e.DateCreated.Format(time.RFC3339Nano), e.LastAccessed.Format(time.RFC3339Nano))
		}
		if ms := o.members[s.seq]; len(ms) > 0 {
			fmt.Fprintf(&b, "  members %v\n", ms)
		}
		if up := o.memberOf[s.seq]; len(up) > 0 {
			fmt.Fprintf(&b, "  memberOf %v\n", up)
		}
	}
	for _, p := range o.projects {
		fmt.Fprintf(&b, "project %d %s %q %q %s %s %s %d %s %v\n", p.seq, p.ID, p.Name, p.Description, p.State, p.Visibility, p.Process, p.Revision, p.LastUpdate.Format(time.RFC3339Nano), p.Deleted)
	}
	for _, t := range o.teams {
		var admins []int32
		for seq, ok := range t.Admins {
			if ok {
				admins = append(admins, seq)
			}
		}
		slices.Sort(admins)
		fmt.Fprintf(&b, "team %d %s %q %q %s %d %v %v %v\n", t.seq, t.ID, t.Name, t.Desc, t.ProjectID, t.Group.seq, admins, t.IsDefault, t.Deleted)
	}
	for _, r := range o.repos {
		fmt.Fprintf(&b, "repo %d %s %q %s %s %d %v %v\n", r.seq, r.ID, r.Name, r.ProjectID, r.DefaultBranch, r.Size, r.IsDisabled, r.Deleted)
	}
	for _, r := range o.groupRules {
		fmt.Fprintf(&b, "rule %s %d %s %s %v\n", r.ID, r.Group.seq, r.License.AccountLicenseType, r.LastExecuted.Format(time.RFC3339Nano), r.Deleted)
	}
	for _, e := range o.audit {
		data, _ := json.Marshal(e.Data) // map keys sorted
		fmt.Fprintf(&b, "audit %s %s %s %s %s %s %q %s %s %s %q %s %s %s\n", e.ID, e.Time.Format(time.RFC3339Nano), e.VisibleAt.Format(time.RFC3339Nano),
			e.ActionID, e.Area, e.Category, e.Details, e.ScopeType, e.ScopeID, e.ProjectID, e.ProjectName, e.ActorID, e.CorrelationID, data)
	}
	return b.String()
}

// firstDifference describes where two dumps part.
func firstDifference(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return fmt.Sprintf("line %d:\n  %s\n  %s", i+1, la[i], lb[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d lines", len(la), len(lb))
}

func generated(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.GeneratedAt.IsZero() {
		opts.GeneratedAt = simEpoch
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	presets := []string{"small", "medium"}
	if !testing.Short() && !raceEnabled {
		presets = append(presets, "large")
	}
	for _, preset := range presets {
		t.Run(preset, func(t *testing.T) {
			t.Parallel()
			a := dumpOrg(generated(t, Options{Preset: preset, Seed: 42}).Org())
			b := dumpOrg(generated(t, Options{Preset: preset, Seed: 42}).Org())
			if a != b {
				t.Fatalf("same seed, different organizations at %s", firstDifference(a, b))
			}
			if !strings.Contains(a, "\naudit ") || !strings.Contains(a, "  ent ") || !strings.Contains(a, "  members ") {
				t.Fatalf("the dump misses audit entries, entitlements or memberships")
			}
			if preset != "small" {
				return
			}
			if c := dumpOrg(generated(t, Options{Preset: preset, Seed: 43}).Org()); sha256.Sum256([]byte(c)) == sha256.Sum256([]byte(a)) {
				t.Fatalf("seeds 42 and 43 give the same organization")
			}
			if d := dumpOrg(generated(t, Options{Preset: preset, Seed: 42, GeneratedAt: simEpoch.Add(24 * time.Hour)}).Org()); d == a {
				t.Fatalf("a different GeneratedAt gives the same dates")
			}
		})
	}
	t.Run("the wall clock does not leak in", func(t *testing.T) {
		t.Parallel()
		a := generated(t, Options{Seed: 7, Now: frozenClock(simEpoch.Add(time.Hour))})
		b := generated(t, Options{Seed: 7, Now: frozenClock(simEpoch.Add(100 * time.Hour))})
		if da, db := dumpOrg(a.Org()), dumpOrg(b.Org()); da != db {
			t.Fatalf("the wall clock changed the generated organization at %s", firstDifference(da, db))
		}
	})
}

var (
	largeOnce sync.Once
	largeSim  *Server
)

// largePreset generates the large preset once for the tests that need it.
func largePreset(t *testing.T) *Server {
	t.Helper()
	if testing.Short() || raceEnabled {
		t.Skip("the large preset takes seconds to generate, more under -race; skipped with -short or -race (BenchmarkGenerate checks its targets)")
	}
	largeOnce.Do(func() { largeSim = generated(t, Options{Preset: "large"}) })
	return largeSim
}

// hasCycle reports whether the group graph has a membership cycle.
func hasCycle(o *Org) bool {
	const (
		unseen = iota
		onPath
		done
	)
	state := map[int32]int{}
	var visit func(int32) bool
	visit = func(g int32) bool {
		state[g] = onPath
		for _, m := range o.members[g] {
			if !o.subjects[m].IsGroup() || o.subjects[m].Deleted {
				continue
			}
			switch state[m] {
			case onPath:
				return true
			case unseen:
				if visit(m) {
					return true
				}
			}
		}
		state[g] = done
		return false
	}
	for _, s := range o.subjects {
		if s.IsGroup() && !s.Deleted && state[s.seq] == unseen && visit(s.seq) {
			return true
		}
	}
	return false
}

func nonLatin(s string) bool {
	for _, r := range s {
		if unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Cyrillic, unicode.Arabic) {
			return true
		}
	}
	return false
}

func TestPresetsCarryEdgeCases(t *testing.T) {
	t.Parallel()
	for _, preset := range []string{"small", "medium", "large"} {
		t.Run(preset, func(t *testing.T) {
			var s *Server
			if preset == "large" {
				s = largePreset(t)
			} else {
				t.Parallel()
				s = generated(t, Options{Preset: preset})
			}
			o := s.Org()
			o.mu.RLock()
			defer o.mu.RUnlock()
			cases := map[string]bool{}
			for _, sub := range o.subjects {
				if sub.Deleted {
					continue
				}
				human := sub.Kind == KindUser && sub.Type != "svc"
				name := sub.DisplayName
				for what, ok := range map[string]bool{
					"a user in no group":                                   human && len(o.memberOf[sub.seq]) == 0,
					"a user name with a comma":                             human && strings.Contains(name, ","),
					"a user name with a double quote":                      human && strings.Contains(name, `"`),
					"a user name with a single quote":                      human && strings.Contains(name, "'"),
					"a user name with a newline":                           human && strings.Contains(name, "\n"),
					"a user name in a non-Latin script":                    human && nonLatin(name),
					"a user name starting with =":                          human && strings.HasPrefix(name, "="),
					"a user name starting with + - @":                      human && strings.ContainsAny(name[:1], "+-@"),
					"a group name with a comma, quote or non-Latin script": sub.IsGroup() && (strings.ContainsAny(name, `,"`) || nonLatin(name)),
					"a guest":                         sub.MetaType == "guest",
					"a Microsoft account":             sub.Type == "msa",
					"a user deleted in Entra ID":      sub.DeletedOrigin,
					"a managed identity":              sub.MetaType == "managedIdentity",
					"an Entra group":                  sub.Type == "aadgp",
					"a build service account":         sub.Type == "svc",
					"a user that never signed in":     human && sub.Ent != nil && sub.Ent.LastAccessed.IsZero(),
					"a user dormant for over 90 days": human && sub.Ent != nil && !sub.Ent.LastAccessed.IsZero() && simEpoch.Sub(sub.Ent.LastAccessed) > 90*24*time.Hour,
					"a license from a group rule":     sub.Ent != nil && sub.Ent.AssignmentSource == "groupRule",
				} {
					cases[what] = cases[what] || ok
				}
			}
			cases["a membership cycle"] = hasCycle(o)
			for _, p := range o.projects {
				cases["a project name in a non-Latin script"] = cases["a project name in a non-Latin script"] || nonLatin(p.Name)
			}
			for what, ok := range cases {
				if !ok {
					t.Errorf("preset %s lacks %s", preset, what)
				}
			}
			if len(cases) < 20 {
				t.Fatalf("only %d cases checked", len(cases))
			}
		})
	}
}

func TestPresetsMatchTheirTargets(t *testing.T) {
	t.Parallel()
	within := func(got, want int, tolerance float64) bool {
		return float64(got) >= float64(want)*(1-tolerance) && float64(got) <= float64(want)*(1+tolerance)
	}
	for _, preset := range []string{"small", "medium", "large"} {
		t.Run(preset, func(t *testing.T) {
			var s *Server
			if preset == "large" {
				s = largePreset(t)
			} else {
				t.Parallel()
				s = generated(t, Options{Preset: preset})
			}
			spec := Presets[preset]
			c := s.Stats().Counts
			if c.Users != spec.Users+1 || c.Entitlements != c.Users {
				t.Errorf("%d users and %d entitlements, want %d (the spec's and the lonely edge case)", c.Users, c.Entitlements, spec.Users+1)
			}
			if c.Projects != spec.Projects || c.ServicePrincipals != spec.ServicePrincipals || c.ServiceAccounts != spec.Projects+1 || c.GroupRules != spec.GroupRules {
				t.Errorf("counts %+v do not follow the spec %+v", c, spec)
			}
			minGroups := spec.OrgGroups + spec.EntraGroups + spec.Projects*(len(defaultProjectGroups)+1)
			if c.Groups < minGroups || c.Teams < spec.Projects || c.Teams > spec.Projects*(spec.MaxExtraTeams+1) || c.Repositories < spec.Projects {
				t.Errorf("%d groups, %d teams, %d repositories for %d projects", c.Groups, c.Teams, c.Repositories, spec.Projects)
			}
			if c.Memberships < c.Users || c.TeamMembers == 0 || c.AuditEntries == 0 {
				t.Errorf("%d memberships, %d team members, %d audit entries", c.Memberships, c.TeamMembers, c.AuditEntries)
			}
			if preset == "large" {
				if c.Users < 50000 || !within(c.Groups, 10000, 0.1) || c.Projects != 1000 || !within(c.Memberships, 600000, 0.1) {
					t.Errorf("large: %d users, %d groups, %d projects, %d memberships; want 50k, ~10k, 1,000, ~600k", c.Users, c.Groups, c.Projects, c.Memberships)
				}
			}
		})
	}
}

func TestOptionsAreChecked(t *testing.T) {
	t.Parallel()
	for _, opts := range []Options{
		{Preset: "huge"},
		{Org: "has space"},
		{Org: "_sim"},
		{Org: "a/b"},
	} {
		if _, err := New(opts); err == nil {
			t.Errorf("New(%+v) succeeded", opts)
		}
	}
	s := generated(t, Options{Spec: &Spec{Users: 3, Projects: 1, MaxRepos: 1}})
	if c := s.Stats().Counts; c.Users != 4 || c.Projects != 1 {
		t.Errorf("a tiny custom spec: %+v", c)
	}
	for _, spec := range []Spec{{}, {Users: 5, Projects: -1}, {Users: 5, MaxExtraTeams: -1}, {Users: 5, GuestShare: 0.7, MSAShare: 0.7}, {Users: 5, NeverShare: -0.1}} {
		if _, err := New(Options{Spec: &spec}); err == nil {
			t.Errorf("New accepted the spec %+v", spec)
		}
	}
}
