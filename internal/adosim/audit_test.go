package adosim

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/audit"
)

// visibleEntries is what the Audit Log should show now in [start, end),
// newest first, read from the state.
func visibleEntries(s *Server, start, end time.Time) []*AuditEntry {
	o := s.Org()
	now := s.Now()
	o.mu.RLock()
	defer o.mu.RUnlock()
	var out []*AuditEntry
	for _, e := range o.visibleAudit(now) {
		if !e.Time.Before(start) && e.Time.Before(end) {
			out = append(out, e)
		}
	}
	slices.Reverse(out)
	return out
}

func entryIDs(es []audit.DecoratedAuditLogEntry) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = *e.Id
	}
	return ids
}

func stateIDs(es []*AuditEntry) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

func TestAuditLogPaging(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Preset: "medium", Now: frozenClock(simEpoch.Add(time.Hour))})
	ac := mustClient(t, audit.NewClient, patConn(s, "readonly"))
	want := visibleEntries(s, time.Time{}, s.Now().Add(time.Hour))
	if len(want) != s.Stats().Counts.AuditEntries || len(want) < 200 {
		t.Fatalf("%d visible entries in the state, Stats says %d", len(want), s.Stats().Counts.AuditEntries)
	}
	for _, batch := range []int{1000, 200, 37, 5000} {
		got := auditLog(t, ac, batch, nil, nil)
		if !slices.Equal(entryIDs(got), stateIDs(want)) {
			t.Fatalf("batch %d: %d entries, want the %d visible ones newest first", batch, len(got), len(want))
		}
		for i := 1; i < len(got); i++ {
			if got[i].Timestamp.Time.After(got[i-1].Timestamp.Time) {
				t.Fatalf("batch %d: entry %d (%v) is newer than entry %d (%v)", batch, i, got[i].Timestamp, i-1, got[i-1].Timestamp)
			}
		}
	}
	oldest := want[len(want)-1].Time
	if s.Now().Sub(oldest) > 90*24*time.Hour {
		t.Fatalf("the log shows an entry of %v, past the 90 days of retention", oldest)
	}
	e := auditLog(t, ac, 1, nil, nil)[0]
	if *e.ScopeType != "organization" || e.ScopeId.String() != s.Org().ID || e.ActorUserId.String() != s.Org().admin.ID || *e.AuthenticationMechanism == "" {
		t.Errorf("entry %+v", e)
	}

	t.Run("windows", func(t *testing.T) {
		day := 24 * time.Hour
		for _, w := range []struct{ start, end time.Time }{
			{simEpoch.Add(-30 * day), simEpoch.Add(-10 * day)},
			{simEpoch.Add(-2 * day), time.Time{}},
			{time.Time{}, simEpoch.Add(-60 * day)},
			{simEpoch.Add(-500 * day), simEpoch.Add(-200 * day)},
		} {
			var start, end *time.Time
			wantStart, wantEnd := time.Time{}, s.Now()
			if !w.start.IsZero() {
				start, wantStart = &w.start, w.start
			}
			if !w.end.IsZero() {
				end, wantEnd = &w.end, w.end
			}
			want := visibleEntries(s, wantStart, wantEnd)
			got := auditLog(t, ac, 50, start, end)
			if !slices.Equal(entryIDs(got), stateIDs(want)) {
				t.Errorf("window %v – %v: %d entries, want %d", w.start, w.end, len(got), len(want))
			}
		}
	})
	t.Run("new entries while paging", func(t *testing.T) {
		batch := 100
		first, err := ac.QueryLog(context.Background(), audit.QueryLogArgs{BatchSize: &batch})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Mutate(MutateRequest{Count: 5, Seed: 3, Kinds: []string{"membership.add"}}); err != nil {
			t.Fatal(err)
		}
		rest := auditLogFrom(t, ac, batch, *first.ContinuationToken)
		got := append(entryIDs(*first.DecoratedAuditLogEntries), entryIDs(rest)...)
		if !slices.Equal(got, stateIDs(want)) {
			t.Fatalf("paging across new entries: %d entries, want the %d there were when paging started", len(got), len(want))
		}
	})
	t.Run("bad input", func(t *testing.T) {
		for _, args := range []audit.QueryLogArgs{
			{BatchSize: ptrTo(0)},
			{ContinuationToken: ptrTo("not-an-entry")},
		} {
			_, err := ac.QueryLog(context.Background(), args)
			wantStatus(t, err, http.StatusBadRequest, "query log with bad arguments")
		}
		resp, _ := rawRequest{url: s.BaseURL() + "/_audit/fabrikam/_apis/audit/auditlog?startTime=yesterday", token: s.Credential("readonly")}.send(t)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("startTime=yesterday: %d, want 400", resp.StatusCode)
		}
	})
	t.Run("actions", func(t *testing.T) {
		resp, body := rawRequest{url: s.BaseURL() + "/_audit/fabrikam/_apis/audit/actions?areaName=Licensing", token: s.Credential("readonly")}.send(t)
		if resp.StatusCode != http.StatusOK || !containsAll(string(body), "Licensing.Assigned", "Licensing.Modified", "Licensing.Removed") || containsAll(string(body), "Git.") {
			t.Errorf("actions of Licensing: %d %s", resp.StatusCode, body)
		}
	})
}

// auditLogFrom pages on from a continuation token.
func auditLogFrom(t *testing.T, ac audit.Client, batch int, token string) []audit.DecoratedAuditLogEntry {
	t.Helper()
	var out []audit.DecoratedAuditLogEntry
	args := audit.QueryLogArgs{BatchSize: &batch, ContinuationToken: &token}
	for {
		res, err := ac.QueryLog(context.Background(), args)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, *res.DecoratedAuditLogEntries...)
		if !*res.HasMore {
			return out
		}
		args.ContinuationToken = res.ContinuationToken
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// The Audit Log keeps entries for the retention only, and entries written
// with a lag become visible late, behind newer ones.
func TestAuditRetentionAndLag(t *testing.T) {
	t.Parallel()
	t.Run("retention", func(t *testing.T) {
		t.Parallel()
		s := startSim(t, Options{Preset: "medium", Now: frozenClock(simEpoch.Add(time.Hour))})
		ac := mustClient(t, audit.NewClient, patConn(s, "readonly"))
		before := auditLog(t, ac, 1000, nil, nil)
		if status := simAdmin(t, s, http.MethodPost, "/_sim/advance", `{"by": "30d"}`, nil); status != http.StatusOK {
			t.Fatalf("advance: %d", status)
		}
		cutoff := s.Now().Add(-90 * 24 * time.Hour)
		var want []string
		for _, e := range before {
			if !e.Timestamp.Time.Before(cutoff) {
				want = append(want, *e.Id)
			}
		}
		after := auditLog(t, ac, 1000, nil, nil)
		if !slices.Equal(entryIDs(after), want) || len(want) == len(before) || len(want) == 0 {
			t.Fatalf("after 30 days: %d entries, want %d of the %d before", len(after), len(want), len(before))
		}
		if s.Stats().Counts.AuditEntries != len(want) {
			t.Errorf("Stats counts %d entries, the log shows %d", s.Stats().Counts.AuditEntries, len(want))
		}
		s.Advance(91 * 24 * time.Hour)
		if left := auditLog(t, ac, 1000, nil, nil); len(left) != 0 {
			t.Errorf("%d entries left 121 days later", len(left))
		}
	})
	t.Run("custom retention", func(t *testing.T) {
		t.Parallel()
		s := startSim(t, Options{AuditRetention: 7 * 24 * time.Hour, Now: frozenClock(simEpoch.Add(time.Hour))})
		ac := mustClient(t, audit.NewClient, patConn(s, "readonly"))
		for _, e := range auditLog(t, ac, 1000, nil, nil) {
			if s.Now().Sub(e.Timestamp.Time) > 7*24*time.Hour {
				t.Fatalf("entry of %v shown with a retention of 7 days", e.Timestamp)
			}
		}
	})
	t.Run("lag", func(t *testing.T) {
		t.Parallel()
		s := startSim(t, Options{AuditLag: time.Hour, Now: frozenClock(simEpoch.Add(time.Hour))})
		ac := mustClient(t, audit.NewClient, patConn(s, "readonly"))
		before := len(auditLog(t, ac, 1000, nil, nil))
		res, err := s.Mutate(MutateRequest{Count: 20, Seed: 1, Kinds: []string{"membership.add"}})
		if err != nil {
			t.Fatal(err)
		}
		written := s.Now()
		if got := len(auditLog(t, ac, 1000, nil, nil)); got != before {
			t.Fatalf("%d entries right after 20 changes with a lag of an hour, want the %d of before", got, before)
		}
		s.Advance(30 * time.Minute)
		half := len(auditLog(t, ac, 1000, nil, nil)) - before
		s.Advance(31 * time.Minute)
		all := auditLog(t, ac, 1000, nil, nil)
		if half <= 0 || half >= len(res.Applied) || len(all)-before != len(res.Applied) {
			t.Fatalf("visible after 30 minutes: %d, after 61: %d; want some, then all %d", half, len(all)-before, len(res.Applied))
		}
		for _, e := range all[:len(res.Applied)] {
			if !e.Timestamp.Time.Equal(written) {
				t.Fatalf("late entry stamped %v, want the time of the change %v", e.Timestamp, written)
			}
		}
		// A reader that polled at 30 minutes and resumes after the newest
		// entry it saw would miss the late ones: the log shows them with
		// their original time.
		start := azuredevops.Time{Time: written.Add(time.Second)}
		late, err := ac.QueryLog(context.Background(), audit.QueryLogArgs{StartTime: &start})
		if err != nil || len(*late.DecoratedAuditLogEntries) != 0 {
			t.Fatalf("entries after the change time: %v, %v", late, err)
		}
	})
}
