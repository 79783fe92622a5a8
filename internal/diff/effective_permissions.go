package diff

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// EffectivePermission is one permission an account has, or is denied, on
// one token, and where that comes from.
type EffectivePermission struct {
	Subject     string // the account's descriptor
	SubjectKind string
	SubjectName string
	Namespace   *Namespace
	Token       string
	Resource    Resource
	Action      Action
	Deny        bool   // false: allowed
	SourceToken string // the token of the entry that decides
	Identity    Subject
	// Via is the group path from the account's direct group to the group
	// the deciding entry names (descriptors, and names); empty when the
	// entry names the account itself.
	Via, ViaNames []string
	// AdminOverridePossible: the bit is denied, and the account is in
	// Project Collection Administrators (directly or nested). Microsoft
	// documents that "in some cases" their members "may always get the
	// permission even if they're denied that permission in a different
	// group", without saying which, and names cases where they do not
	// (see adminOverrideExcluded). The service's rule is not published,
	// so the decision stays deny and this marks the doubt.
	AdminOverridePossible bool
}

// ViaText is the grant path for people: "direct", or "via A → B".
func (p EffectivePermission) ViaText() string {
	if len(p.ViaNames) == 0 {
		return "direct"
	}
	return "via " + strings.Join(p.ViaNames, " → ")
}

// PermissionFilter narrows EffectivePermissions.
type PermissionFilter struct {
	Tokens      map[string][]string // namespace id → the only tokens to evaluate (lower-case compare)
	Subject     string              // only this account (descriptor)
	Permission  string              // only this action name
	IncludeDeny bool                // also the bits explicitly denied (default: allowed only)
}

// EffectivePermissions streams every permission each account has on every
// project, repository and branch (every token with an ACL, and every
// project's and repository's token) of the namespaces the run read, by
// namespace, token, account and bit. Permissions are evaluated as the
// service evaluates them:
//
//   - an account's identities are the account and every group it belongs
//     to, directly or through nested groups (the effective-access closure);
//   - for each bit, from the token up its hierarchy (repoV2/{p}/{r}/refs/…
//     → repoV2/{p}/{r} → repoV2/{p} → repoV2), the first ACL where one of
//     those identities has the bit allowed or denied decides: an explicit
//     entry on a token beats what the token inherits;
//   - at that ACL a deny for any identity beats allows for others;
//   - an ACL whose inheritance is off ends the walk;
//   - a bit set nowhere is not allowed (and not listed).
//
// A deny for a member of Project Collection Administrators is marked
// AdminOverridePossible, not turned into an allow.
//
// Each permission carries the deciding entry's token and identity, and the
// group path the account holds it through (the shortest, then the first
// in descriptor order).
func EffectivePermissions(ctx context.Context, st *snapshot.Store, run int64, f PermissionFilter, emit func(EffectivePermission) error) error {
	s, err := loadPermissions(ctx, st, run)
	if err != nil {
		return err
	}
	return s.effective(ctx, f, emit)
}

// hit is an entry that applies to one account on one walk.
type hit struct {
	level int
	ace   *aceState
	via   *reach // nil: the entry names the account
	token string
}

func (s *permState) effective(ctx context.Context, f PermissionFilter, emit func(EffectivePermission) error) error {
	cands := map[string][]hit{}
	for _, ns := range s.namespaces {
		var bitFilter int64 = -1
		if f.Permission != "" {
			a, ok := ns.Bit(f.Permission)
			if !ok {
				continue
			}
			bitFilter = a.Bit
		}
		var tokens []string
		switch want, ok := f.Tokens[ns.ID]; {
		case ok:
			tokens = want // asked for, with an ACL or not
		case f.Tokens != nil:
			continue
		default:
			tokens = s.tokens(ns)
		}
		for _, token := range tokens {
			if err := ctx.Err(); err != nil {
				return err
			}
			clear(cands)
			s.gather(ns, token, f.Subject, cands)
			subjects := make([]string, 0, len(cands))
			for d := range cands {
				subjects = append(subjects, d)
			}
			slices.Sort(subjects)
			res := s.res.of(ns, token)
			for _, d := range subjects {
				if err := s.decide(ns, token, res, d, cands[d], bitFilter, f.IncludeDeny, emit); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// gather collects, per account, the entries on the walk up from token that
// name the account or a group it is in.
func (s *permState) gather(ns *Namespace, token, only string, cands map[string][]hit) {
	level := 0
	for t, ok := ns.key(token), true; ok; t, ok = ns.parent(t) {
		a := s.acls[ns][t]
		if a == nil {
			continue
		}
		for i := range a.aces {
			e := &a.aces[i]
			sub := e.subject
			if !sub.Known {
				continue // an identity the run does not know reaches no one it knows
			}
			if sub.Kind != "group" {
				if only == "" || only == sub.Descriptor {
					cands[sub.Descriptor] = append(cands[sub.Descriptor], hit{level: level, ace: e, token: a.token})
				}
				continue
			}
			gid, ok := s.in.ids[sub.Descriptor]
			if !ok {
				continue
			}
			for _, m := range s.members[gid] {
				d := s.in.names[m.account]
				if only != "" && only != d {
					continue
				}
				cands[d] = append(cands[d], hit{level: level, ace: e, via: &m.r, token: a.token})
			}
		}
		level++
		if !a.inherit {
			break
		}
	}
}

// decide walks one account's hits level by level and emits its bits.
func (s *permState) decide(ns *Namespace, token string, res Resource, account string, hits []hit, bitFilter int64, withDeny bool, emit func(EffectivePermission) error) error {
	slices.SortStableFunc(hits, func(a, b hit) int {
		return cmp.Or(cmp.Compare(a.level, b.level), cmp.Compare(pathLen(a), pathLen(b)), strings.Compare(a.ace.subject.Descriptor, b.ace.subject.Descriptor))
	})
	undecided := bitFilter
	acct := s.names[account]
	for i := 0; i < len(hits) && undecided != 0; {
		j := i
		var allow, deny int64
		for ; j < len(hits) && hits[j].level == hits[i].level; j++ {
			allow, deny = allow|hits[j].ace.allow, deny|hits[j].ace.deny
		}
		for _, a := range ns.Actions {
			if undecided&a.Bit == 0 || (allow|deny)&a.Bit == 0 {
				continue
			}
			isDeny := deny&a.Bit != 0
			if isDeny && !withDeny {
				continue
			}
			// The deciding entry: the first (shortest path) that sets the bit so.
			var h hit
			for _, x := range hits[i:j] {
				if (isDeny && x.ace.deny&a.Bit != 0) || (!isDeny && x.ace.allow&a.Bit != 0) {
					h = x
					break
				}
			}
			p := EffectivePermission{Subject: account, SubjectKind: acct.Kind, SubjectName: acct.Name, Namespace: ns, Token: token,
				Resource: res, Action: a, Deny: isDeny, SourceToken: h.token, Identity: *h.ace.subject,
				AdminOverridePossible: isDeny && s.admins[account] && !adminOverrideExcluded(ns, a)}
			if p.SubjectKind == "" {
				p.SubjectKind, p.SubjectName = kindOfDescriptor(account), account
			}
			if h.via != nil {
				ids := h.via.from.path(h.via.idx)
				for _, id := range ids {
					d := s.in.names[id]
					p.Via = append(p.Via, d)
					p.ViaNames = append(p.ViaNames, cmp.Or(s.c.names[d], d))
				}
			}
			if err := emit(p); err != nil {
				return err
			}
		}
		undecided &^= allow | deny
		i = j
	}
	return nil
}

func pathLen(h hit) int32 {
	if h.via == nil {
		return 0
	}
	return h.via.from.dist[h.via.idx] + 1
}

// adminOverrideExcluded are the permissions whose deny, Microsoft's page
// says, membership of Project Collection Administrators does not bypass:
// "work item deletion or pipelines" (the Project namespace's work item
// deletion bits, and the Build and ReleaseManagement namespaces).
func adminOverrideExcluded(ns *Namespace, a Action) bool {
	switch ns.ID {
	case nsBuild, nsRelease:
		return true
	case nsProject:
		return a.Name == "WORK_ITEM_DELETE" || a.Name == "WORK_ITEM_PERMANENTLY_DELETE"
	}
	return false
}
