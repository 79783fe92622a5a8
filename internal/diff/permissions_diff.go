package diff

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// Permission change kinds and their entity.
const (
	PermissionGained     = "permission_gained" // an account now has (or is now denied) a permission on a resource
	PermissionLost       = "permission_lost"   // it no longer does
	EntPermissions       = "permissions"
	EntEffectivePerms    = "effective_permissions"
	permissionDenyMarker = "deny "
)

// permissionTables are the store tables a run diff compares through the
// effective permissions they give (PermissionChanges), not field by field.
var permissionTables = []*snapshot.Table{snapshot.SecurityNamespaces, snapshot.NamespaceActions, snapshot.ACLs, snapshot.ACEs}

// PermissionChanges streams the effective permissions gained and lost
// from run fromRun to run toRun: every (account, namespace, token,
// permission, allow or deny) of one run and not the other, evaluated as
// EffectivePermissions evaluates them. A changed entry, a changed
// membership (nested groups included), a repository that came or went, and
// inheritance turned off all show here, as what they change for each
// account. Changes come by namespace, token, account and permission; a
// gain carries the newer run's path, a loss the older run's.
func PermissionChanges(ctx context.Context, st *snapshot.Store, fromRun, toRun int64, emit func(Change) error) error {
	if fromRun > toRun {
		return fmt.Errorf("%w (run %d, run %d)", ErrRunOrder, fromRun, toRun)
	}
	a, err := loadPermissions(ctx, st, fromRun)
	if err != nil {
		return err
	}
	b, err := loadPermissions(ctx, st, toRun)
	if err != nil {
		return err
	}
	byID := map[string][2]*Namespace{}
	var ids []string
	for i, s := range []*permState{a, b} {
		for _, ns := range s.namespaces {
			pair, ok := byID[ns.ID]
			if !ok {
				ids = append(ids, ns.ID)
			}
			pair[i] = ns
			byID[ns.ID] = pair
		}
	}
	slices.SortFunc(ids, func(x, y string) int {
		return cmp.Compare(nsName(byID[x]), nsName(byID[y]))
	})
	for _, id := range ids {
		pair := byID[id]
		var tokens []string
		seen := map[string]bool{}
		for i, s := range []*permState{a, b} {
			if pair[i] == nil {
				continue
			}
			for _, t := range s.tokens(pair[i]) {
				if k := strings.ToLower(t); !seen[k] {
					seen[k] = true
					tokens = append(tokens, t)
				}
			}
		}
		slices.Sort(tokens)
		for _, token := range tokens {
			if err := ctx.Err(); err != nil {
				return err
			}
			var ra, rb []EffectivePermission
			collect := func(s *permState, ns *Namespace, into *[]EffectivePermission) error {
				if ns == nil {
					return nil
				}
				f := PermissionFilter{Tokens: map[string][]string{ns.ID: {token}}, IncludeDeny: true}
				return s.effective(ctx, f, func(p EffectivePermission) error { *into = append(*into, p); return nil })
			}
			if err := collect(a, pair[0], &ra); err != nil {
				return err
			}
			if err := collect(b, pair[1], &rb); err != nil {
				return err
			}
			if err := mergePermissions(ra, rb, emit); err != nil {
				return err
			}
		}
	}
	return nil
}

func nsName(p [2]*Namespace) string {
	if p[1] != nil {
		return p[1].Name + p[1].ID
	}
	return p[0].Name + p[0].ID
}

// permKey identifies an effective permission within one token.
func permKey(p EffectivePermission) string {
	d := ""
	if p.Deny {
		d = permissionDenyMarker
	}
	return p.Subject + "\x1f" + d + p.Action.Name
}

// mergePermissions emits what is only in a (lost) or only in b (gained).
func mergePermissions(a, b []EffectivePermission, emit func(Change) error) error {
	inA := make(map[string]bool, len(a))
	for _, p := range a {
		inA[permKey(p)] = true
	}
	inB := make(map[string]bool, len(b))
	for _, p := range b {
		inB[permKey(p)] = true
	}
	var out []Change
	for _, p := range a {
		if !inB[permKey(p)] {
			out = append(out, permissionChange(PermissionLost, p))
		}
	}
	for _, p := range b {
		if !inA[permKey(p)] {
			out = append(out, permissionChange(PermissionGained, p))
		}
	}
	slices.SortStableFunc(out, func(x, y Change) int {
		return cmp.Or(strings.Compare(x.Subject, y.Subject), strings.Compare(x.Key, y.Key), strings.Compare(x.Kind, y.Kind))
	})
	for _, c := range out {
		if err := emit(c); err != nil {
			return err
		}
	}
	return nil
}

// permissionChange describes one permission gained or lost.
func permissionChange(kind string, p EffectivePermission) Change {
	decision := "allow"
	if p.Deny {
		decision = "deny"
	}
	return Change{
		Kind: kind, Entity: EntEffectivePerms,
		Key:     joinKey(p.Subject, p.Namespace.Name+":"+p.Token, p.Action.Name),
		Subject: p.Subject, SubjectKind: p.SubjectKind,
		Name: p.SubjectName + " > " + p.Resource.Name + ": " + p.Action.Name,
		Fields: []Field{{Name: "decision", Before: pick(kind == PermissionLost, decision), After: pick(kind == PermissionGained, decision)},
			{Name: "source_token", Before: pick(kind == PermissionLost, p.SourceToken), After: pick(kind == PermissionGained, p.SourceToken)}},
		Path: p.ViaText(),
	}
}

func pick(ok bool, s string) string {
	if ok {
		return s
	}
	return ""
}
