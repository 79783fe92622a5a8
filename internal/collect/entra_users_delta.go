package collect

import (
	"context"
	"strings"
)

// Microsoft Graph's delta query over the tenant's users
// (https://learn.microsoft.com/en-us/graph/api/user-delta, application
// permission User.Read.All): the Entra sweep of an incremental run asks it
// which users changed in Entra ID since the last sweep (deleted, disabled,
// renamed) and re-reads by Azure DevOps subject lookup only the
// Entra-backed accounts of the store it names, matched by object id (the
// account's origin id). The store keeps what Azure DevOps shows
// (isDeletedInOrigin, names), never what the delta says. Without a users
// deltaLink, or when Graph fails or no longer knows it, the sweep looks up
// every Entra-backed account and starts a new round from now.

// usersDeltaFromNow starts a users delta round from now. The properties
// named are those whose changes Azure DevOps mirrors onto an account:
// Graph tracks only the properties $select names.
const usersDeltaFromNow = "/users/delta?$select=displayName,userPrincipalName,mail,mailNickname,accountEnabled&$deltatoken=latest"

// UsersDelta follows a delta round of the tenant's users from link (a
// stored deltaLink, or usersDeltaFromNow) to its deltaLink, and returns the
// object ids of the users it lists (from a deltaLink: those changed or
// deleted since), and how many requests it took.
func (g *MSGraph) UsersDelta(ctx context.Context, link string) (changed []string, deltaLink string, requests int, err error) {
	return g.delta(ctx, "users", "User.Read.All", link)
}

// usersByDelta is the account sweep's question to the users delta. It
// returns the lower-case object ids of the users changed in Entra ID
// since the stored base link, or nil when the sweep must look up every
// Entra-backed account (no stored link, accounts read in full anyway, or
// Graph failed: sw.usersFallback says why). It records in sw the users
// deltaLink(s) to store. Like the groups delta, it asks from a base link
// it moves on only to one at least entraMirrorLag old, since Azure DevOps
// may show a change made in Entra ID up to an hour late.
func (r *incRun) usersByDelta(ctx context.Context, sw *entraSweep, accountsFull bool) (map[string]bool, error) {
	g := r.opts.Graph
	if links := parseDeltaLinks(sw.last.UsersDeltaLink); links.base.link != "" && sw.hasLast && !accountsFull {
		changed, next, n, err := g.UsersDelta(ctx, links.base.link)
		sw.usersRequests += n
		if err == nil {
			sw.usersByDelta, sw.usersLink = true, links.advance(next, sw.at).String()
			named := make(map[string]bool, len(changed))
			for _, id := range changed {
				named[strings.ToLower(id)] = true
			}
			return named, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		sw.usersFallback = err.Error()
	} else if !accountsFull {
		sw.usersFallback = "no Microsoft Graph users deltaLink yet"
	}
	// A new round from now, asked before the accounts are looked up:
	// what changes after is for the next sweep.
	next, err := r.opts.deltaFromNow(ctx, sw.at, (*MSGraph).UsersDelta, usersDeltaFromNow)
	sw.usersRequests++
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		sw.usersFallback = strings.TrimPrefix(sw.usersFallback+"; ", "; ") + err.Error()
	}
	sw.usersLink = next
	return nil, nil
}
