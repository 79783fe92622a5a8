package collect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// Microsoft Graph's delta query over the tenant's groups' members
// (https://learn.microsoft.com/en-us/graph/api/group-delta, application
// permission GroupMember.Read.All): the Entra sweep of an incremental run
// asks it which Entra groups' members changed since the last sweep, and
// re-reads only those through Azure DevOps. An unchanged tenant costs one
// request.

// errDeltaExpired is Microsoft Graph no longer knowing a delta token:
// 410 Gone, or 400 syncStateNotFound for identity resources
// (https://learn.microsoft.com/en-us/graph/delta-query-overview).
var errDeltaExpired = errors.New("the Microsoft Graph deltaLink expired")

// Limits on what a delta round reads.
const (
	maxDeltaPages   = 10000 // pages of one round
	maxDeltaLinkLen = 8192  // characters of a stored deltaLink
)

// groupsDeltaLatest is the start of a round that skips the tenant's
// current state ("sync from now"): its one answer is a deltaLink. Graph
// tracks only the properties $select names: the members, and the name
// Azure DevOps mirrors.
const groupsDeltaLatest = "/groups/delta?$select=displayName,members&$deltatoken=latest"

// GroupsDelta follows a delta round of the tenant's groups' members from
// link (a stored deltaLink, or groupsDeltaLatest) to its deltaLink, and
// returns the object ids of the groups it lists (from a deltaLink: those
// whose members or name changed, or that were deleted), in the order Graph
// gave them, and how many requests it took.
func (g *MSGraph) GroupsDelta(ctx context.Context, link string) (changed []string, deltaLink string, requests int, err error) {
	return g.delta(ctx, "groups", "GroupMember.Read.All", link)
}

// delta follows a delta round of resource (groups, users) from link to
// its deltaLink and returns the object ids it lists, in Graph's order,
// once each; permission names what a 403 lacks.
func (g *MSGraph) delta(ctx context.Context, resource, permission, link string) (changed []string, deltaLink string, requests int, err error) {
	next, ok := g.relative(link)
	if !ok {
		return nil, "", 0, fmt.Errorf("%w: it is not under %s", errDeltaExpired, g.base)
	}
	what := "Microsoft Graph delta query of " + resource
	seen := map[string]bool{}
	for requests < maxDeltaPages {
		var page struct {
			NextLink  string `json:"@odata.nextLink"`
			DeltaLink string `json:"@odata.deltaLink"`
			Value     []struct {
				ID string `json:"id"`
			} `json:"value"`
		}
		requests++
		_, err := g.call(ctx, http.MethodGet, next, nil, &page)
		var ge *GraphError
		if errors.As(err, &ge) && (ge.Status == http.StatusGone || strings.EqualFold(ge.Code, "syncStateNotFound")) {
			return nil, "", requests, fmt.Errorf("%w: %w", errDeltaExpired, ge)
		}
		if errors.Is(err, ErrMissingGraphPermission) {
			return nil, "", requests, fmt.Errorf("%s: missing application permission %s (with admin consent)", what, permission)
		}
		if err != nil {
			return nil, "", requests, fmt.Errorf("%s: %w", what, err)
		}
		for _, v := range page.Value {
			if v.ID != "" && !seen[v.ID] {
				seen[v.ID] = true
				changed = append(changed, v.ID)
			}
		}
		switch {
		case page.DeltaLink != "":
			if len(page.DeltaLink) > maxDeltaLinkLen {
				return nil, "", requests, fmt.Errorf("%s: a deltaLink of %d characters (at most %d)", what, len(page.DeltaLink), maxDeltaLinkLen)
			}
			return changed, page.DeltaLink, requests, nil
		case page.NextLink == "":
			return nil, "", requests, fmt.Errorf("%s: a page with neither nextLink nor deltaLink", what)
		}
		if next, ok = g.relative(page.NextLink); !ok {
			return nil, "", requests, fmt.Errorf("%s: a nextLink outside %s", what, g.base)
		}
	}
	return nil, "", requests, fmt.Errorf("%s: more than %d pages", what, maxDeltaPages)
}

// relative turns a link Graph gave (absolute, under g.base) into a path.
func (g *MSGraph) relative(link string) (string, bool) {
	if strings.HasPrefix(link, "/") {
		return link, true
	}
	p, ok := strings.CutPrefix(link, g.base)
	return p, ok && strings.HasPrefix(p, "/")
}

// sweepByDelta is the sweep with Microsoft Graph. From the last sweep's
// deltaLink it queues for a re-read only the Entra groups of the store
// whose members changed since (done is true then). Without a deltaLink
// (the last sweep had no Graph), or when Graph no longer knows it or
// fails, it starts a round from now and leaves the sweep to read every
// Entra group (done is false), so the next run can use the delta. The
// changed groups are re-read through Azure DevOps, not taken from the
// delta: that keeps the store what a full sync reads.
func (r *incRun) sweepByDelta(ctx context.Context, sw *entraSweep, groupsFull bool) (done bool, err error) {
	g := r.opts.Graph
	if links := parseDeltaLinks(sw.last.DeltaLink); links.base.link != "" && sw.hasLast && !groupsFull {
		changed, next, n, err := g.GroupsDelta(ctx, links.base.link)
		sw.graphRequests += n
		if err == nil {
			sw.method, sw.deltaLink = entraSweepDelta, links.advance(next, sw.at).String()
			return true, r.queueEntraGroups(ctx, sw, changed)
		}
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		sw.fallback = err.Error()
	} else if !groupsFull {
		sw.fallback = "no Microsoft Graph deltaLink yet"
	}
	next, err := r.opts.deltaFromNow(ctx, sw.at, (*MSGraph).GroupsDelta, groupsDeltaLatest)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		sw.fallback = strings.TrimPrefix(sw.fallback+"; ", "; ") + err.Error()
	}
	sw.deltaLink = next
	return false, nil
}

// queueEntraGroups queues for a re-read the Entra groups of the store
// among the object ids Graph named.
func (r *incRun) queueEntraGroups(ctx context.Context, sw *entraSweep, objectIDs []string) error {
	if len(objectIDs) == 0 {
		return nil
	}
	want := map[string]bool{}
	for _, id := range objectIDs {
		want[strings.ToLower(id)] = true
	}
	var found []string
	err := r.query(ctx, func(w *snapshot.Writer) error {
		return w.Current(snapshot.Groups, func(row snapshot.Row) error {
			if row[1] == "aadgp" && want[strings.ToLower(fmt.Sprint(row[4]))] {
				found = append(found, row[0].(string))
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range found {
		if _, ok := r.groups[d]; ok && !r.p.groups[d] {
			r.p.groups[d] = true
			sw.groups++
		}
	}
	return nil
}

// deltaFromNow starts a delta round from now (the service's clock says
// at) with ask (MSGraph.GroupsDelta or UsersDelta) from start, for a sweep
// that reads everything anyway: one request. Without Graph it is "".
func (o SyncOptions) deltaFromNow(ctx context.Context, at time.Time, ask func(*MSGraph, context.Context, string) ([]string, string, int, error), start string) (string, error) {
	if o.Graph == nil {
		return "", nil
	}
	_, link, _, err := ask(o.Graph, ctx, start)
	if err != nil {
		return "", err
	}
	return deltaLinks{base: issuedLink{link, at}}.String(), nil
}

// entraMirrorLag is how long Azure DevOps may take to show a change made in
// Entra ID (Microsoft documents up to an hour). A delta round names a
// changed group once, and its re-read through Azure DevOps may come before
// Azure DevOps shows the change. So sweeps keep asking from a base
// deltaLink, re-reading every group changed since, and move the base on
// only to a link at least this old: whatever changed before that link was
// re-read at least this long after it changed.
const entraMirrorLag = time.Hour

// deltaLinks is what the store keeps (entra_sweeps.delta_link): the base
// link sweeps ask from, and the newest link a sweep got, which becomes the
// base once it is entraMirrorLag old. Each is kept with the time it was
// issued, as a fragment (#issued=RFC 3339) that Graph's links never carry
// and that is cut before a link is called; one line each.
type deltaLinks struct{ base, next issuedLink }

type issuedLink struct {
	link string
	at   time.Time
}

const deltaIssued = "#issued="

func (d deltaLinks) String() string {
	var lines []string
	for _, l := range []issuedLink{d.base, d.next} {
		if l.link != "" {
			lines = append(lines, l.link+deltaIssued+l.at.UTC().Format(time.RFC3339))
		}
	}
	return strings.Join(lines, "\n")
}

func parseDeltaLinks(stored string) deltaLinks {
	var ls []issuedLink
	for _, line := range strings.Split(stored, "\n") {
		link, at, _ := strings.Cut(line, deltaIssued)
		issued, _ := time.Parse(time.RFC3339, at) // none: old enough to move on
		ls = append(ls, issuedLink{link, issued})
	}
	var d deltaLinks
	d.base = ls[0]
	if len(ls) > 1 {
		d.next = ls[1]
	}
	return d
}

// advance is the links after a sweep at at that asked from the base and got
// the deltaLink got.
func (d deltaLinks) advance(got string, at time.Time) deltaLinks {
	switch {
	case d.next.link == "":
		d.next = issuedLink{got, at}
	case at.Sub(d.next.at) >= entraMirrorLag:
		d.base, d.next = d.next, issuedLink{got, at}
	}
	return d
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
