package collect

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/graph"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/identity"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// Memberships are read in bulk where the bulk answer is complete, and one
// group at a time where it is not:
//
//   - Azure DevOps groups (vssgp): the Identities API returns the direct
//     members of up to identityBatch groups per call, named by legacy
//     identity descriptors that are then resolved to subject descriptors.
//   - Entra groups (aadgp): the Identities API is known to leave out members
//     who never signed in and to cut the list at 99 (vsts-rest-api-specs
//     #459), so these go through Graph memberships, which is complete.
//
// Anything the bulk path cannot resolve falls back to Graph for that group.

const identityBatch = 100

const legacyGroupPrefix = "Microsoft.TeamFoundation.Identity;"

var directionDown = graph.GraphTraversalDirectionValues.Down

func readMemberships(ctx context.Context, e *env) error {
	e.mu.Lock()
	groups := e.groups
	e.membersRead = make(map[string]bool, len(groups))
	e.mu.Unlock()
	return e.groupMembers(ctx, groups, func(ctx context.Context, group string, rows []snapshot.Row) error {
		e.mu.Lock()
		e.membersRead[group] = true
		e.mu.Unlock()
		return e.replaceMembers(ctx, group, rows)
	})
}

// replaceMembers records a group's direct members as read.
func (e *env) replaceMembers(ctx context.Context, group string, rows []snapshot.Row) error {
	return e.out.replace(ctx, snapshot.Memberships, "memberships", group, rows)
}

// groupMembers reads the direct members of groups and hands each group's
// rows (container, member) to found. Groups that no longer exist are
// skipped.
func (e *env) groupMembers(ctx context.Context, groups []groupRef, found func(context.Context, string, []snapshot.Row) error) error {
	seen := map[string]bool{}
	var vss, entra []string
	for _, g := range groups {
		if seen[g.descriptor] {
			continue
		}
		seen[g.descriptor] = true
		e.ids.learn(g.descriptor, "", legacyGroupPrefix+groupSID(g.descriptor))
		if g.subjectType == "aadgp" {
			entra = append(entra, g.descriptor)
		} else {
			vss = append(vss, g.descriptor)
		}
	}
	err := forEach(ctx, e.c.conc, chunks(vss, identityBatch), func(ctx context.Context, batch []string) error {
		return e.readGroupBatch(ctx, batch, found)
	})
	if err != nil {
		return err
	}
	return forEach(ctx, e.c.conc, entra, func(ctx context.Context, g string) error {
		return e.readGroupViaGraph(ctx, g, found)
	})
}

// readGroupBatch reads the direct members of a batch of Azure DevOps groups
// through the Identities API.
func (e *env) readGroupBatch(ctx context.Context, batch []string, found func(context.Context, string, []snapshot.Row) error) error {
	ids, err := e.c.Identity.ReadIdentityBatch(ctx, identity.ReadIdentityBatchArgs{BatchInfo: &identity.IdentityBatchInfo{
		SubjectDescriptors: &batch, QueryMembership: &queryDirect,
	}})
	if err != nil {
		return describe("read group members through the Identities API", "identity", err)
	}
	members := map[string][]string{}
	var legacies []string
	for _, id := range deref2(ids) {
		g := str(id.SubjectDescriptor)
		if g == "" {
			continue
		}
		key := ""
		if id.Id != nil {
			key = id.Id.String()
		}
		e.ids.learn(g, key, str(id.Descriptor))
		if err := e.out.identity(ctx, g, key, str(id.Descriptor)); err != nil {
			return err
		}
		members[g] = deref2(id.Members)
		legacies = append(legacies, members[g]...)
	}
	resolved, err := e.ids.resolve(ctx, legacies)
	if err != nil {
		return err
	}
	for _, g := range batch {
		ms, ok := members[g]
		if !ok {
			e.c.log.Debug("the Identities API did not answer for a group; reading it through Graph", "group", g)
			// Not answered (removed meanwhile, or not visible): ask Graph.
			if err := e.readGroupViaGraph(ctx, g, found); err != nil {
				return err
			}
			continue
		}
		rows := make([]snapshot.Row, 0, len(ms))
		complete := true
		for _, l := range ms {
			d, ok := resolved[l]
			if !ok {
				e.c.log.Debug("a member could not be resolved; reading the group through Graph", "group", g, "member", l)
				complete = false
				break
			}
			rows = append(rows, snapshot.Row{g, d})
		}
		if !complete {
			if err := e.readGroupViaGraph(ctx, g, found); err != nil {
				return err
			}
			continue
		}
		if err := found(ctx, g, rows); err != nil {
			return err
		}
	}
	return nil
}

// readGroupViaGraph reads one group's direct members through Graph.
func (e *env) readGroupViaGraph(ctx context.Context, group string, found func(context.Context, string, []snapshot.Row) error) error {
	ms, err := e.c.Graph.ListMemberships(ctx, graph.ListMembershipsArgs{SubjectDescriptor: &group, Direction: &directionDown})
	if status, _ := statusOf(err); status == http.StatusNotFound {
		return nil // deleted since it was listed; the full sync closes its rows
	}
	if err != nil {
		return describe("read the members of group "+group, "graph", err)
	}
	rows := make([]snapshot.Row, 0, len(deref2(ms)))
	for _, m := range deref2(ms) {
		if d := str(m.MemberDescriptor); d != "" {
			rows = append(rows, snapshot.Row{group, d})
		}
	}
	return found(ctx, group, rows)
}

// resolver names one subject three ways: subject descriptor (Graph), legacy
// identity descriptor (Identities API, ACLs) and storage key (entitlements,
// audit entries). What it learns is kept in the store, so each identity is
// resolved through the API once, not once per sync.
type resolver struct {
	c   *Client
	out *sink
	// loading reads the keys of earlier runs while the run starts (see load).
	loading *early

	mu       sync.Mutex
	byLegacy map[string]string // legacy → descriptor
	keyOf    map[string]string // descriptor → storage key
	byKey    map[string]string // storage key → descriptor
	// fresh are the subjects first met in this run (resolved through the
	// API): the only members that may be missing from the store.
	fresh       map[string]bool
	knownLegacy map[string]bool // descriptors with a known legacy descriptor
}

func newResolver(c *Client) *resolver {
	return &resolver{c: c, byLegacy: map[string]string{}, keyOf: map[string]string{}, byKey: map[string]string{},
		fresh: map[string]bool{}, knownLegacy: map[string]bool{}}
}

// load reads the identity keys earlier runs learned, in the background,
// on a connection of its own: a run needs them only once it reads group
// members, and meanwhile it has discovery and the Audit Log to read.
func (r *resolver) load(ctx context.Context, st *snapshot.Store) {
	r.loading = startEarly(ctx, func(ctx context.Context) error {
		start := time.Now()
		if err := st.IdentityKeys(ctx, r.learn); err != nil {
			return fmt.Errorf("read identity keys: %w", err)
		}
		r.c.log.Debug("loaded the identity keys", "duration", time.Since(start).Round(time.Millisecond))
		return nil
	})
}

// ready waits for load.
func (r *resolver) ready(ctx context.Context) error { return r.loading.wait(ctx) }

// learn records what is known of a subject.
func (r *resolver) learn(descriptor, storageKey, legacy string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if legacy != "" {
		r.byLegacy[strings.ToLower(legacy)] = descriptor // the service ignores their case
		r.knownLegacy[descriptor] = true
	}
	if storageKey != "" {
		k := strings.ToLower(storageKey)
		r.keyOf[descriptor] = k
		r.byKey[k] = descriptor
	}
	return nil
}

// known reports whether a subject was known before this run (by its legacy
// descriptor or storage key) rather than met for the first time.
func (r *resolver) known(ctx context.Context, descriptor string) bool {
	if r.ready(ctx) != nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fresh[descriptor] {
		return false
	}
	_, ok := r.keyOf[descriptor]
	return ok || r.knownLegacy[descriptor]
}

// descriptorOf returns the subject descriptor known for a storage key.
func (r *resolver) descriptorOf(ctx context.Context, storageKey string) (string, bool) {
	if r.ready(ctx) != nil {
		return "", false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.byKey[strings.ToLower(storageKey)]
	return d, ok
}

// storageKeyOf returns the storage key known for a descriptor.
func (r *resolver) storageKeyOf(ctx context.Context, descriptor string) string {
	if r.ready(ctx) != nil {
		return ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.keyOf[descriptor]
}

// resolve maps legacy descriptors to subject descriptors, asking the
// Identities API for the ones not known yet. Unresolvable ones are absent.
func (r *resolver) resolve(ctx context.Context, legacies []string) (map[string]string, error) {
	if err := r.ready(ctx); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(legacies))
	var unknown []string
	r.mu.Lock()
	for _, l := range legacies {
		if d, ok := r.byLegacy[strings.ToLower(l)]; ok {
			out[l] = d
		} else if _, dup := out[l]; !dup {
			out[l] = ""
			unknown = append(unknown, l)
		}
	}
	r.mu.Unlock()
	for _, l := range unknown {
		delete(out, l)
	}
	for _, batch := range chunks(unknown, identityBatch) {
		ids, err := r.c.Identity.ReadIdentityBatch(ctx, identity.ReadIdentityBatchArgs{BatchInfo: &identity.IdentityBatchInfo{
			Descriptors: &batch, QueryMembership: &queryNone,
		}})
		if err != nil {
			return nil, describe("resolve group members through the Identities API", "identity", err)
		}
		for _, id := range deref2(ids) {
			d, l := str(id.SubjectDescriptor), str(id.Descriptor)
			if d == "" || l == "" {
				continue
			}
			key := ""
			if id.Id != nil {
				key = id.Id.String()
			}
			r.learn(d, key, l)
			r.mu.Lock()
			r.fresh[d] = true
			r.mu.Unlock()
			out[l] = d
			if err := r.out.identity(ctx, d, key, l); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// storageKeys maps subject descriptors to storage keys, asking the
// Identities API for the ones not known yet.
func (r *resolver) storageKeys(ctx context.Context, descriptors []string) (map[string]string, error) {
	if err := r.ready(ctx); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(descriptors))
	var unknown []string
	r.mu.Lock()
	for _, d := range descriptors {
		if k, ok := r.keyOf[d]; ok {
			out[d] = k
		} else {
			unknown = append(unknown, d)
		}
	}
	r.mu.Unlock()
	for _, batch := range chunks(unknown, identityBatch) {
		ids, err := r.c.Identity.ReadIdentityBatch(ctx, identity.ReadIdentityBatchArgs{BatchInfo: &identity.IdentityBatchInfo{
			SubjectDescriptors: &batch, QueryMembership: &queryNone,
		}})
		if err != nil {
			return nil, describe("read storage keys through the Identities API", "identity", err)
		}
		for _, id := range deref2(ids) {
			d := str(id.SubjectDescriptor)
			if d == "" || id.Id == nil {
				continue
			}
			r.learn(d, id.Id.String(), str(id.Descriptor))
			out[d] = strings.ToLower(id.Id.String())
			if err := r.out.identity(ctx, d, id.Id.String(), str(id.Descriptor)); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
