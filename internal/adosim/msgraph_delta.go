package adosim

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Microsoft Graph's delta query over groups (GET /groups/delta), as
// https://learn.microsoft.com/en-us/graph/api/group-delta and
// https://learn.microsoft.com/en-us/graph/delta-query-groups describe it:
//
//   - The initial round returns every Entra group the organization has
//     materialized, with its members in members@delta, in pages linked by
//     @odata.nextLink; the last page carries @odata.deltaLink.
//   - $deltatoken=latest answers at once with a deltaLink and no data ("sync
//     from now").
//   - A deltaLink returns only the groups whose members changed since it
//     was issued; members@delta lists each member added, and each member
//     removed with "@removed": {"reason": "deleted"}; a group deleted comes
//     with "@removed": {"reason": "changed"}. Changes are net: a member added
//     then removed again shows as removed.
//   - A token the service no longer knows (too old, or expired with
//     ExpireEntraDeltaTokens) answers 410 Gone, syncStateNotFound: the
//     client must start over.
//
// Only membership changes made in Entra ID (Microsoft Graph, /_sim/mutate's
// entra.* kinds) are tracked; those are the only changes of an Entra
// group's members (Azure DevOps refuses to change them).

const (
	deltaDefaultPage = 100   // groups per page unless Prefer: odata.maxpagesize says otherwise
	deltaMaxLog      = 1e6   // changes kept; tokens older than what is kept are unknown
	deltaTokenPrefix = "d1:" // the format of the simulator's tokens
)

// entraDeltaChange is one Entra membership change: the member of the group
// was added or removed (the current state says which).
type entraDeltaChange struct{ group, member int32 }

// entraDeltaLog is the organization's Entra membership changes, in order.
// Positions are absolute: base is the position of changes[0]. Callers
// hold the organization's lock.
type entraDeltaLog struct {
	epoch   string // tokens of another epoch (another server, or expired) are unknown
	base    int
	changes []entraDeltaChange
}

func (l *entraDeltaLog) init() {
	if l.epoch == "" {
		l.epoch = randomToken(6)
	}
}

// record notes that member's membership of group g changed.
// expire forgets every token the log issued: the next call with one is
// refused as expired.
func (l *entraDeltaLog) expire() { l.epoch = randomToken(6) }

func (l *entraDeltaLog) record(g, m *Subject) { l.add(entraDeltaChange{g.seq, m.seq}) }

func (l *entraDeltaLog) add(ch entraDeltaChange) {
	l.init()
	l.changes = append(l.changes, ch)
	if len(l.changes) > deltaMaxLog {
		drop := len(l.changes) - deltaMaxLog/2
		l.changes = slices.Delete(l.changes, 0, drop)
		l.base += drop
	}
}

// end is the position after the last change.
func (l *entraDeltaLog) end() int { return l.base + len(l.changes) }

// ExpireEntraDeltaTokens forgets every delta token issued so far (groups
// and users), as
// Microsoft Graph does after seven days or when its state is reset: the
// next call with one answers 410 Gone.
func (s *Server) ExpireEntraDeltaTokens() {
	o := s.org
	o.mu.Lock()
	defer o.mu.Unlock()
	o.entraDelta.expire()
	o.entraUsers.expire()
}

// deltaState is what a delta or skip token carries: the round resumes
// from position from (the initial round when from is -1) up to position
// to, after group seq after.
type deltaState struct {
	from, to int
	after    int32
}

func (l *entraDeltaLog) token(st deltaState) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s%s:%d:%d:%d", deltaTokenPrefix, l.epoch, st.from, st.to, st.after))
}

// parse reads a token; ok is false for one this log cannot answer.
func (l *entraDeltaLog) parse(tok string) (st deltaState, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return st, false
	}
	f := strings.Split(strings.TrimPrefix(string(raw), deltaTokenPrefix), ":")
	if !strings.HasPrefix(string(raw), deltaTokenPrefix) || len(f) != 4 || f[0] != l.epoch {
		return st, false
	}
	from, err1 := strconv.Atoi(f[1])
	to, err2 := strconv.Atoi(f[2])
	after, err3 := strconv.ParseInt(f[3], 10, 32)
	if err1 != nil || err2 != nil || err3 != nil || to < l.base || to > l.end() || (from >= 0 && (from < l.base || from > to)) {
		return st, false
	}
	return deltaState{from, to, int32(after)}, true
}

// deltaGroup is a group in a delta answer.
type deltaGroup struct {
	Type        string         `json:"@odata.type"`
	ID          string         `json:"id"`
	DisplayName string         `json:"displayName,omitempty"`
	Members     []deltaMember  `json:"members@delta,omitempty"`
	Removed     map[string]any `json:"@removed,omitempty"`
}

type deltaMember struct {
	Type    string         `json:"@odata.type"`
	ID      string         `json:"id"`
	Removed map[string]any `json:"@removed,omitempty"`
}

// groupsDelta serves GET /groups/delta.
func (s *Server) groupsDelta(c *call) {
	graphRequestIDs(c)
	if c.query("$filter") != "" {
		writeGraphError(c.w, http.StatusBadRequest, "Request_UnsupportedQuery", "The simulator's groups delta supports no $filter.")
		return
	}
	sel := strings.ToLower(c.query("$select"))
	withMembers := sel == "" || slices.Contains(strings.Split(sel, ","), "members")
	withName := sel == "" || slices.Contains(strings.Split(sel, ","), "displayname")
	size := deltaPageSize(c)
	o := c.o
	o.mu.Lock() // the log's epoch may be set
	defer o.mu.Unlock()
	l := &o.entraDelta
	groups, st, last, done := s.deltaSubjects(c, "groups", l, []deltaGroup{}, sel, size, func(g *Subject) bool {
		return entraGroup(g) && !g.Deleted
	})
	if done {
		return
	}
	out := make([]deltaGroup, 0, len(groups))
	for _, g := range groups {
		dg := deltaGroup{Type: "#microsoft.graph.group", ID: g.OriginID}
		if withName {
			dg.DisplayName = g.DisplayName
		}
		switch {
		case g.Deleted:
			dg.Removed = map[string]any{"reason": "changed"}
		case !withMembers:
		case st.from < 0:
			for _, m := range o.directMembers(g) {
				dg.Members = append(dg.Members, deltaMember{Type: graphMemberOf(m).Type, ID: m.OriginID})
			}
		default:
			dg.Members = o.entraDelta.memberChanges(o, g, st)
		}
		out = append(out, dg)
	}
	if len(groups) > 0 {
		st.after = groups[len(groups)-1].seq
	}
	s.writeDeltaPage(c, "groups", l, out, st, last, sel)
}

// deltaSubjects reads a delta request's token and picks the subjects of
// its page: on a new round those initial accepts, then the ones the log
// changed since the token, each once, in the log's order. done: it has
// answered already ($deltatoken=latest, or a token it does not know).
func (s *Server) deltaSubjects(c *call, what string, l *entraDeltaLog, none any, sel string, size int, initial func(*Subject) bool) (subs []*Subject, st deltaState, last, done bool) {
	o := c.o
	l.init()
	switch tok, skip := c.query("$deltatoken"), c.query("$skiptoken"); {
	case tok == "latest":
		s.writeDeltaPage(c, what, l, none, deltaState{-1, l.end(), 0}, true, sel)
		return nil, st, true, true
	case tok != "" || skip != "":
		var ok bool
		if st, ok = l.parse(tok + skip); !ok || (tok != "" && skip != "") {
			writeGraphError(c.w, http.StatusGone, "syncStateNotFound", "The sync state generation is not found. The delta token is expired and data must be synchronized again.")
			return nil, st, true, true
		}
		if tok != "" { // a deltaLink: the changes since, up to now
			st = deltaState{st.to, l.end(), -1}
		}
	default:
		st = deltaState{-1, l.end(), -1}
	}
	if st.from < 0 {
		for _, x := range o.subjects {
			if initial(x) && x.seq > st.after {
				subs = append(subs, x)
			}
		}
	} else {
		seen := map[int32]bool{}
		for _, ch := range l.changes[st.from-l.base : st.to-l.base] {
			if !seen[ch.group] && ch.group > st.after {
				seen[ch.group] = true
				subs = append(subs, o.subjects[ch.group])
			}
		}
		slices.SortFunc(subs, func(a, b *Subject) int { return int(a.seq - b.seq) })
	}
	last = len(subs) <= size
	if !last {
		subs = subs[:size]
	}
	return subs, st, last, false
}

// deltaPageSize is how many objects a delta page holds: Prefer:
// odata.maxpagesize, or deltaDefaultPage.
func deltaPageSize(c *call) int {
	size := deltaDefaultPage
	for _, p := range strings.Split(c.r.Header.Get("Prefer"), ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(p), "odata.maxpagesize="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				size = min(n, graphMaxTop)
			}
		}
	}
	return size
}

// memberChanges is the net change of g's members in the log's range.
func (l *entraDeltaLog) memberChanges(o *Org, g *Subject, st deltaState) []deltaMember {
	var out []deltaMember
	seen := map[int32]bool{}
	for _, ch := range l.changes[st.from-l.base : st.to-l.base] {
		if ch.group != g.seq || seen[ch.member] {
			continue
		}
		seen[ch.member] = true
		m := o.subjects[ch.member]
		dm := deltaMember{Type: graphMemberOf(m).Type, ID: m.OriginID}
		if m.Deleted || !o.isMember(g, m) {
			dm.Removed = map[string]any{"reason": "deleted"}
		}
		out = append(out, dm)
	}
	return out
}

// writeDeltaPage writes one page of the delta of resource (groups,
// users): a nextLink to the rest of the round, or the deltaLink that
// resumes from where the round ends. value is a slice, never nil.
func (s *Server) writeDeltaPage(c *call, resource string, l *entraDeltaLog, value any, st deltaState, last bool, sel string) {
	page := struct {
		Context   string `json:"@odata.context"`
		NextLink  string `json:"@odata.nextLink,omitempty"`
		DeltaLink string `json:"@odata.deltaLink,omitempty"`
		Value     any    `json:"value"`
	}{Context: "https://graph.microsoft.com/v1.0/$metadata#" + resource, Value: value}
	q := url.Values{}
	if sel != "" {
		q.Set("$select", c.query("$select"))
	}
	if last {
		q.Set("$deltatoken", l.token(deltaState{-1, st.to, 0}))
		page.DeltaLink = s.MicrosoftGraphURL() + "/" + resource + "/delta?" + q.Encode()
	} else {
		q.Set("$skiptoken", l.token(st))
		page.NextLink = s.MicrosoftGraphURL() + "/" + resource + "/delta?" + q.Encode()
	}
	writeGraphJSON(c.w, http.StatusOK, page)
}
