package collect

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// What the Audit Log cannot show. Access is mostly granted through
// Microsoft Entra groups, and what changes in Entra ID (a member added to
// or removed from an Entra group, a user deleted or disabled there) writes
// no Azure DevOps Audit Log entry; Azure DevOps only mirrors it. So an
// incremental run also sweeps, every run or at the cadence
// SyncOptions.EntraSweep asks for:
//
//   - the direct members of every Entra group (aadgp) in the store, through
//     Azure DevOps Graph memberships, one request per group (the groups'
//     metadata in one subject lookup per 1,000 groups);
//   - the Entra-backed accounts (origin aad), by subject lookup, 1,000 per
//     request: isDeletedInOrigin, and names changed in Entra; with
//     Microsoft Graph, only those the users delta names
//     (entra_users_delta.go);
//   - the access levels of the users who joined or left a group that a
//     group rule grants a license through.
//
// A full sync reads all of it anyway and counts as a sweep. Each sweep is
// recorded in the store (entra_sweeps), and every incremental run's note
// says when the last one was.

// subjectLookupBatch is how many descriptors one subject lookup asks for.
const subjectLookupBatch = 1000

// entraSweep is one incremental run's sweep.
type entraSweep struct {
	due     bool
	last    snapshot.EntraSweep
	hasLast bool
	at      time.Time // the service's clock as the sweep starts

	groups, accounts, accountsChanged int

	// With Microsoft Graph (SyncOptions.Graph): how the groups were
	// chosen, the deltaLink to record, the Graph requests it took, and why
	// the sweep fell back to every group, if it did.
	method        string
	deltaLink     string
	graphRequests int
	fallback      string
	// The same for the accounts and the users delta: whether the delta
	// chose them, the users deltaLink to record, its requests, and why the
	// sweep looked up every account, if it did.
	usersByDelta  bool
	usersLink     string
	usersRequests int
	usersFallback string
	// ruleMembers are the direct members, before this run, of the groups
	// that group rules grant licenses through.
	ruleMembers map[string]map[string]bool
	ruleUsers   int // users whose access level was re-read
}

// startEntraSweep decides whether this run sweeps and, if so, queues every
// Entra group of the store for a re-read. It notes the members of group
// rules' groups, to find whose access level may have changed.
func (r *incRun) startEntraSweep(ctx context.Context) (*entraSweep, error) {
	sw := &entraSweep{at: r.c.Stats.ServerNow(), ruleMembers: map[string]map[string]bool{}, method: entraSweepMethod}
	err := r.query(ctx, func(w *snapshot.Writer) error {
		var err error
		if sw.last, sw.hasLast, err = w.LastEntraSweep(); err != nil {
			return err
		}
		var rules []string
		if err := w.Current(snapshot.GroupRules, func(row snapshot.Row) error {
			rules = append(rules, row[0].(string))
			return nil
		}); err != nil {
			return err
		}
		for _, g := range rules {
			members := map[string]bool{}
			if err := w.CurrentWhere(snapshot.Memberships, "container", g, func(row snapshot.Row) error {
				members[row[1].(string)] = true
				return nil
			}); err != nil {
				return err
			}
			sw.ruleMembers[g] = members
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	every := r.opts.EntraSweep
	sw.due = every <= 0 || !sw.hasLast || sw.at.Sub(sw.last.SweptAt) >= every
	_, full := r.p.full[kindGroups]
	if !sw.due {
		return sw, nil
	}
	if r.opts.Graph != nil {
		done, err := r.sweepByDelta(ctx, sw, full)
		if done || err != nil {
			return sw, err
		}
	}
	if full {
		return sw, nil // a full read of the groups reads the Entra groups too
	}
	r.mu.Lock()
	for d := range r.groups {
		if subjectType(d) == "aadgp" {
			r.p.groups[d] = true
			sw.groups++
		}
	}
	r.mu.Unlock()
	return sw, nil
}

// sweepEntraAccounts re-reads the Entra-backed accounts of the store by
// subject lookup and records those that changed (deleted in Entra ID, or
// renamed there). It runs after the users the Audit Log named: the store
// then no longer holds those that left.
func (r *incRun) sweepEntraAccounts(ctx context.Context, sw *entraSweep) error {
	_, full := r.p.full[kindAccounts]
	var named map[string]bool // nil: every Entra-backed account
	if r.opts.Graph != nil {
		var err error
		if named, err = r.usersByDelta(ctx, sw, full); err != nil {
			return err
		}
	}
	if full {
		return nil // every account is read anyway
	}
	if named != nil && len(named) == 0 {
		return nil // nothing changed in Entra ID
	}
	stored := map[string]snapshot.Row{}
	var list []string
	err := r.query(ctx, func(w *snapshot.Writer) error {
		return w.Current(snapshot.Accounts, func(row snapshot.Row) error {
			if row[3] == "aad" && (named == nil || named[strings.ToLower(fmt.Sprint(row[4]))]) {
				d := row[0].(string)
				stored[d] = row
				list = append(list, d)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	sort.Strings(list)
	subjects, err := r.lookup(ctx, list)
	if err != nil {
		return err
	}
	sw.accounts = len(list)
	for _, d := range list {
		s, ok := subjects[d]
		if !ok {
			continue // gone from the organization: the Audit Log says so
		}
		row := accountRow(d, str(s.Origin), str(s.OriginId), str(s.PrincipalName), str(s.MailAddress), str(s.DisplayName),
			str(s.Domain), str(s.MetaType), str(s.DirectoryAlias), str(s.ApplicationId), s.IsDeletedInOrigin)
		if sameRow(row, stored[d]) {
			continue
		}
		sw.accountsChanged++
		if err := r.out.put(ctx, snapshot.Accounts, "accounts", row); err != nil {
			return err
		}
	}
	return nil
}

// sameRow compares rows as the store would hash them.
func sameRow(a, b snapshot.Row) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if fmt.Sprint(a[i]) != fmt.Sprint(b[i]) {
			return false
		}
	}
	return true
}

// finishEntraSweep re-reads the access levels of the users who joined or
// left a group rule's group (read this run, by the sweep or because the
// Audit Log named it), records the sweep and says in the run's note what
// was swept, or when the last sweep was. It runs once the run's reads are
// in the store.
func (r *incRun) finishEntraSweep(ctx context.Context, sw *entraSweep) error {
	changed := map[string]bool{}
	nested := false
	var names []string
	err := r.query(ctx, func(w *snapshot.Writer) error {
		for g, before := range sw.ruleMembers {
			now := map[string]bool{}
			if err := w.CurrentWhere(snapshot.Memberships, "container", g, func(row snapshot.Row) error {
				now[row[1].(string)] = true
				return nil
			}); err != nil {
				return err
			}
			for m := range now {
				if !before[m] {
					changed[m] = true
				}
			}
			for m := range before {
				if !now[m] {
					changed[m] = true
				}
			}
		}
		for m := range changed {
			if t := subjectType(m); t == "vssgp" || t == "aadgp" {
				nested = true
				continue
			}
			if err := w.CurrentWhere(snapshot.Accounts, "descriptor", m, func(row snapshot.Row) error {
				if row[1] == "user" {
					names = append(names, strings.ToLower(row[5].(string)))
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	_, accountsRead := r.p.full[kindAccounts] // every access level read already
	switch {
	case accountsRead:
	case nested:
		// A group joined or left a rule's group: its members' access
		// levels may have changed, and the service says nothing of whom.
		r.notes.add("access levels re-read in full (a group joined or left a group rule's group)")
		if err := readUserEntitlements(ctx, r.env); err != nil {
			return err
		}
	case len(names) > 0:
		sw.ruleUsers = len(names)
		if err := r.rereadUserNames(ctx, names); err != nil {
			return err
		}
	}
	if !sw.due {
		r.notes.add(fmt.Sprintf("Entra ID not swept this run (--entra-sweep %s): changes made there (group members, deleted users) since run %d of %s (%s) are not in this snapshot",
			r.opts.EntraSweep, sw.last.Run, sw.last.SweptAt.UTC().Format(time.RFC3339), sw.last.Method))
		return nil
	}
	if err := r.out.do(ctx, func(w *snapshot.Writer) error {
		return w.RecordEntraSweep(snapshot.EntraSweep{SweptAt: sw.at, Method: sw.method, DeltaLink: sw.deltaLink, UsersDeltaLink: sw.usersLink})
	}); err != nil {
		return err
	}
	how := ""
	if sw.method == entraSweepDelta {
		how = fmt.Sprintf(" through a Microsoft Graph delta query (%d request%s)", sw.graphRequests, plural(sw.graphRequests))
	} else if sw.fallback != "" {
		how = " in full (" + sw.fallback + ")"
	}
	accounts := ""
	switch {
	case sw.usersByDelta:
		accounts = fmt.Sprintf(" named by the Microsoft Graph users delta (%d request%s)", sw.usersRequests, plural(sw.usersRequests))
	case r.opts.Graph != nil && sw.usersFallback != "":
		accounts = " (all: " + sw.usersFallback + ")"
	}
	r.notes.add(fmt.Sprintf("Entra ID swept%s (its changes have no Audit Log entries): members of %d Entra groups re-read, %d Entra accounts%s (%d changed), access levels of %d users whose group-rule group changed",
		how, sw.groups, sw.accounts, accounts, sw.accountsChanged, sw.ruleUsers))
	return nil
}

// How a sweep read Entra ID, as recorded in the store.
const (
	entraSweepMethod = "Azure DevOps Graph memberships of each Entra group"
	entraSweepDelta  = "Microsoft Graph delta query of Entra group members"
	entraSweepFull   = "full sync"
)
