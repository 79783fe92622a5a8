package adosim

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// stats counts requests per endpoint and faults served. Every request
// counts, so the names known in advance are lock-free counters; others
// (none today) fall back to a locked map.
type stats struct {
	known map[string]*atomic.Int64 // written only before serving
	mu    sync.Mutex
	other map[string]int64
}

// faultCounters are the names injectFault, position and serveAPI count.
var faultCounters = []string{"unrouted", "fault_429", "fault_5xx", "fault_cut", "fault_delay", "fault_expired_token", "auth_401", "auth_403"}

func newStats() *stats {
	st := &stats{known: map[string]*atomic.Int64{}, other: map[string]int64{}}
	for _, name := range faultCounters {
		st.register(name)
	}
	return st
}

// register adds a counter; only before the server serves.
func (st *stats) register(name string) {
	if st.known[name] == nil {
		st.known[name] = new(atomic.Int64)
	}
}

func (st *stats) count(name string) {
	if c := st.known[name]; c != nil {
		c.Add(1)
		return
	}
	st.mu.Lock()
	st.other[name]++
	st.mu.Unlock()
}

func (st *stats) reset() {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, c := range st.known {
		c.Store(0)
	}
	clear(st.other)
}

// snapshot returns every counter.
func (st *stats) snapshot() map[string]int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make(map[string]int64, len(st.known)+len(st.other))
	for k, c := range st.known {
		out[k] = c.Load()
	}
	for k, v := range st.other {
		out[k] = v
	}
	return out
}

// Stats is the answer of GET /_sim/stats.
type Stats struct {
	Org      string           `json:"org"`
	Now      time.Time        `json:"now"`
	Counts   Counts           `json:"counts"`
	Requests map[string]int64 `json:"requests"` // "total" and one entry per endpoint
	Faults   map[string]int64 `json:"faults"`   // 429, 5xx, cut, delay, expired_token, auth_401, auth_403
}

// Counts are the live entities of the organization, as a full sync should
// find them.
type Counts struct {
	Users             int `json:"users"`              // human accounts (aad, msa, …), not service accounts
	ServiceAccounts   int `json:"service_accounts"`   // svc. build service identities
	ServicePrincipals int `json:"service_principals"` // aadsp. service principals and managed identities
	Groups            int `json:"groups"`             // vssgp. and aadgp., including team groups
	Memberships       int `json:"memberships"`        // direct container→member edges
	Projects          int `json:"projects"`
	Teams             int `json:"teams"`
	TeamMembers       int `json:"team_members"` // direct members summed over teams
	Repositories      int `json:"repositories"`
	Entitlements      int `json:"entitlements"` // user entitlements (human accounts)
	GroupRules        int `json:"group_rules"`
	AuditEntries      int `json:"audit_entries"` // visible and within retention
}

// Stats reports counts of the first organization, requests and faults.
func (s *Server) Stats() Stats { return s.statsOf(s.org) }

// statsOf reports one organization's counts, and the server's requests and
// faults.
func (s *Server) statsOf(o *Org) Stats {
	o.mu.RLock()
	counts := o.counts()
	o.mu.RUnlock()
	st := Stats{Org: o.Name, Now: s.clock.Now(), Counts: counts, Requests: map[string]int64{}, Faults: map[string]int64{}}
	var total int64
	for k, v := range s.stats.snapshot() {
		switch k {
		case "fault_429", "fault_5xx", "fault_cut", "fault_cut_after", "fault_delay", "fault_expired_token", "auth_401", "auth_403":
			st.Faults[strings.TrimPrefix(k, "fault_")] = v
		default:
			st.Requests[k] = v
			total += v
		}
	}
	st.Requests["total"] = total
	return st
}

func (o *Org) counts() Counts {
	var c Counts
	for _, s := range o.subjects {
		if s.Deleted {
			continue
		}
		switch {
		case s.Kind == KindGroup:
			c.Groups++
			for _, m := range o.members[s.seq] {
				if !o.subjects[m].Deleted {
					c.Memberships++
				}
			}
		case s.Kind == KindServicePrincipal:
			c.ServicePrincipals++
		case s.Type == "svc":
			c.ServiceAccounts++
		default:
			c.Users++
			if s.Ent != nil {
				c.Entitlements++
			}
		}
	}
	for _, p := range o.projects {
		if !p.Deleted {
			c.Projects++
		}
	}
	for _, t := range o.teams {
		if !t.Deleted {
			c.Teams++
			c.TeamMembers += len(o.directMembers(t.Group))
		}
	}
	for _, r := range o.repos {
		if !r.Deleted {
			c.Repositories++
		}
	}
	for _, r := range o.groupRules {
		if !r.Deleted {
			c.GroupRules++
		}
	}
	c.AuditEntries = len(o.visibleAudit(o.clock.Now()))
	return c
}

// serveAdmin answers the /_sim/ endpoints. They need no credential: the
// simulator listens on loopback and they hold no secrets.
//
// /_sim/{org}/stats, /_sim/{org}/mutate and /_sim/{org}/faults address one
// organization of several (so does an "org" field of a mutation); the
// others are the server's. /_sim/orgs lists, adds and removes organizations.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	var org *Org // nil: the server's endpoint
	if name, rest, ok := strings.Cut(strings.TrimPrefix(path, "/_sim/"), "/"); ok && name != "orgs" && name != "stats" {
		if org = s.orgNamed(name); org == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no organization " + strconv.Quote(name) + "; GET /_sim/orgs lists them"})
			return
		}
		path = "/_sim/" + rest
	}
	bad := func(what string, err error) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": what + ": " + err.Error()})
	}
	switch r.Method + " " + path {
	case "GET /_sim/stats":
		if org == nil {
			org = s.org
		}
		writeJSON(w, http.StatusOK, s.statsOf(org))
	case "POST /_sim/stats/reset":
		s.stats.reset()
		writeJSON(w, http.StatusOK, s.Stats())
	case "GET /_sim/faults":
		writeJSON(w, http.StatusOK, s.faultsFor(org).get())
	case "POST /_sim/faults":
		var f Faults
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			bad("faults", err)
			return
		}
		if err := f.checkLatency(); err != nil {
			bad("faults", err)
			return
		}
		if org != nil {
			s.SetOrgFaults(org.Name, f) // {} clears them
		} else {
			s.faults.set(f)
		}
		writeJSON(w, http.StatusOK, f)
	case "POST /_sim/advance":
		var body struct {
			By string `json:"by"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": `advance: want {"by": "72h"}: ` + err.Error()})
			return
		}
		d, err := ParseDuration(body.By)
		if err != nil || d < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": `advance: "by" must be a positive duration such as "36h" or "100d"`})
			return
		}
		s.clock.Advance(d)
		writeJSON(w, http.StatusOK, map[string]any{"now": s.clock.Now()})
	case "POST /_sim/mutate":
		var req MutateRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			bad("mutate", err)
			return
		}
		if org != nil {
			req.Org = org.Name
		}
		res, err := s.Mutate(req)
		if err != nil {
			// Changes made before the error stay made: list them.
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error(), "applied": res.Applied})
			return
		}
		writeJSON(w, http.StatusOK, res)
	case "GET /_sim/orgs":
		var out []map[string]any
		for _, o := range s.allOrgs() {
			out = append(out, map[string]any{"name": o.Name, "id": o.ID, "url": s.BaseURL() + "/" + o.Name})
		}
		writeJSON(w, http.StatusOK, out)
	case "POST /_sim/orgs":
		var oo OrgOptions
		if err := json.NewDecoder(r.Body).Decode(&oo); err != nil {
			bad("orgs", err)
			return
		}
		o, err := s.AddOrg(oo)
		if err != nil {
			bad("orgs", err)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"name": o.Name, "id": o.ID, "url": s.BaseURL() + "/" + o.Name})
	case "GET /_sim/", "GET /_sim/help":
		eps := []string{"GET /_sim/stats", "POST /_sim/stats/reset", "GET /_sim/faults", "POST /_sim/faults", "POST /_sim/advance", "POST /_sim/mutate",
			"GET /_sim/orgs", "POST /_sim/orgs", "DELETE /_sim/orgs/{org}", "GET /_sim/{org}/stats", "POST /_sim/{org}/mutate", "GET|POST /_sim/{org}/faults"}
		sort.Strings(eps)
		writeJSON(w, http.StatusOK, map[string]any{"endpoints": eps})
	default:
		if name, ok := strings.CutPrefix(path, "/_sim/orgs/"); ok && r.Method == http.MethodDelete {
			if err := s.RemoveOrg(name); err != nil {
				bad("orgs", err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]string{"removed": name})
			return
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such admin endpoint; GET /_sim/help lists them"})
	}
}
