package adosim

import (
	"fmt"
	"strings"
)

// One server can serve several organizations behind one credential, as the
// service does for a person who belongs to several: each has its own name,
// id, seed and size, its own routes under /{org} (and /_vssps/{org}, …),
// and can be added, removed, or made to fail on its own at run time. The
// Accounts and Profile APIs list them.

// OrgOptions describe one more organization of a server.
type OrgOptions struct {
	Name   string
	Preset string // small, medium or large (default small); ignored when Spec is set
	Spec   *Spec
	// Seed decides its people, groups and projects. Two organizations
	// of one seed hold the same people (one Entra tenant's users, with the
	// same descriptors) under different organization ids.
	Seed uint64
}

// AccountsURL is the base of the service that lists a person's
// organizations (the Accounts and Profile APIs): what
// https://app.vssps.visualstudio.com is for the real service.
func (s *Server) AccountsURL() string { return s.BaseURL() + hostPrefix[hostApp] }

// orgNames name the organizations 'exporter sim --orgs N' serves beside
// the first.
var orgNames = []string{"contoso", "northwind", "tailspin", "wingtip", "woodgrove", "litware", "proseware", "fourthcoffee", "adventureworks"}

// MoreOrgNames names n more organizations: contoso, northwind, …, then
// org-11, org-12, ….
func MoreOrgNames(n int) []string {
	var out []string
	for i := range n {
		if i < len(orgNames) {
			out = append(out, orgNames[i])
		} else {
			out = append(out, fmt.Sprintf("org-%d", i+2))
		}
	}
	return out
}

// orgNamed is the organization called name (case-insensitive), or nil.
func (s *Server) orgNamed(name string) *Org {
	s.orgMu.RLock()
	defer s.orgMu.RUnlock()
	for _, o := range s.orgs {
		if strings.EqualFold(o.Name, name) {
			return o
		}
	}
	return nil
}

// allOrgs lists the organizations served, in the order they were added.
func (s *Server) allOrgs() []*Org {
	s.orgMu.RLock()
	defer s.orgMu.RUnlock()
	return append([]*Org(nil), s.orgs...)
}

// Orgs lists the organizations served, in the order they were added.
func (s *Server) Orgs() []*Org { return s.allOrgs() }

// OrgByName gives tests direct access to one organization ("" if none).
func (s *Server) OrgByName(name string) *Org { return s.orgNamed(name) }

// checkOrgName refuses names that cannot be a path segment of the service.
func checkOrgName(name string) error {
	if name == "" || strings.ContainsAny(name, "/?#% ") || strings.HasPrefix(name, "_") {
		return fmt.Errorf("organization name %q: must not be empty, contain '/', '?', '#', '%%' or spaces, nor start with '_'", name)
	}
	return nil
}

// AddOrg generates and serves one more organization.
func (s *Server) AddOrg(oo OrgOptions) (*Org, error) {
	if err := checkOrgName(oo.Name); err != nil {
		return nil, err
	}
	spec, err := resolveSpec(Options{Preset: oo.Preset, Spec: oo.Spec})
	if err == nil {
		err = spec.check()
	}
	if err != nil {
		return nil, err
	}
	if oo.Seed == 0 {
		oo.Seed = 1
	}
	o := generate(strings.ToLower(oo.Name), spec, oo.Seed, s.ref, s.clock)
	o.Name = oo.Name
	o.retention = s.opts.AuditRetention
	o.auditLag = s.opts.AuditLag
	o.srv = s
	s.orgMu.Lock()
	defer s.orgMu.Unlock()
	for _, other := range s.orgs {
		if strings.EqualFold(other.Name, oo.Name) {
			return nil, fmt.Errorf("organization %q is served already", oo.Name)
		}
	}
	if base := s.BaseURL(); base != "" {
		o.serveURLs(base)
	}
	s.orgs = append(s.orgs, o)
	return o, nil
}

// RemoveOrg stops serving an organization, as when it is deleted or the
// credential loses access to it: its URLs answer 404 and the Accounts API
// no longer lists it. The first organization cannot be removed.
func (s *Server) RemoveOrg(name string) error {
	s.orgMu.Lock()
	defer s.orgMu.Unlock()
	for i, o := range s.orgs {
		if strings.EqualFold(o.Name, name) {
			if o == s.org {
				return fmt.Errorf("organization %q is the server's first and cannot be removed", name)
			}
			s.orgs = append(s.orgs[:i:i], s.orgs[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("no organization %q", name)
}

// SetOrgFaults gives one organization faults of its own, replacing the
// server's for its requests (a zero Faults clears them).
func (s *Server) SetOrgFaults(name string, f Faults) error {
	o := s.orgNamed(name)
	if o == nil {
		return fmt.Errorf("no organization %q", name)
	}
	if f.empty() {
		o.faults.Store(nil)
		return nil
	}
	o.faults.Store(newFaultState(f, s.opts.Seed))
	return nil
}

// faultsFor is the fault state a request to o meets.
func (s *Server) faultsFor(o *Org) *faultState {
	if o != nil {
		if fs := o.faults.Load(); fs != nil {
			return fs
		}
	}
	return s.faults
}
