package main

import (
	"context"
	"encoding/csv"
	"os"
	osexec "os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// BenchmarkApplyLarge applies 1,000 approved revokes (a plan file of
// direct memberships) to the large organization with 20 ms of latency on
// every request, each run in its own process:
//
//   - the plan alone (a dry run): wall time and requests;
//   - apply --apply: wall time, requests, requests per action;
//   - 1,000 other revokes, killed with SIGKILL part-way, then the same
//     command again: the removals the second run sends are at most those
//     of the actions not finished at the kill (plus the in-flight one and
//     its write check), so no finished action is sent again, and the Audit
//     Log shows every membership removed exactly once.
//
// Building the store takes a full sync of the large organization.
func BenchmarkApplyLarge(b *testing.B) {
	bin := exporterBinary(b)
	sim, db, env := slowLargeOrg(b, "readwrite")
	dir := filepath.Dir(db)
	runExporter(b, bin, env, "sync", "--mode", "full")

	// Two sets of 1,000 direct memberships of users in built-in project groups.
	const n = 1000
	st, err := snapshot.OpenExisting(context.Background(), db)
	if err != nil {
		b.Fatal(err)
	}
	rows, err := st.DB().Query(`SELECT m.member, m.container FROM memberships m
		JOIN accounts a ON a.descriptor = m.member AND a.valid_to IS NULL AND a.kind = 'user'
		JOIN groups g ON g.descriptor = m.container AND g.valid_to IS NULL AND g.subject_type = 'vssgp' AND g.display_name IN ('Contributors', 'Readers')
		WHERE m.valid_to IS NULL ORDER BY m.container, m.member LIMIT ?`, 2*n)
	if err != nil {
		b.Fatal(err)
	}
	var pairs [][2]string
	for rows.Next() {
		var m, g string
		rows.Scan(&m, &g)
		pairs = append(pairs, [2]string{m, g})
	}
	rows.Close()
	st.Close()
	if len(pairs) != 2*n {
		b.Fatalf("%d memberships to revoke", len(pairs))
	}
	planFile := func(name string, ps [][2]string) string {
		p := filepath.Join(dir, name)
		f, _ := os.Create(p)
		w := csv.NewWriter(f)
		w.Write([]string{"action", "subject", "target", "approver", "ticket"})
		for _, pr := range ps {
			w.Write([]string{"revoke", pr[0], pr[1], "owner@fabrikam.example", "CHG-1000"})
		}
		w.Flush()
		f.Close()
		return p
	}
	first, second := planFile("first.csv", pairs[:n]), planFile("second.csv", pairs[n:])
	requests := func() map[string]int64 { return sim.Stats().Requests }

	for i := 0; i < b.N; i++ {
		before := requests()
		dry := runMeasured(b, bin, env, "apply", "--decisions", first, "--max-changes", "2000")
		mid := requests()
		applied := runMeasured(b, bin, env, "apply", "--decisions", first, "--apply", "--max-changes", "2000")
		after := requests()
		benchLine("apply.large.actions", n, "actions")
		benchLine("apply.large.plan.wall", dry.wall.Seconds(), "s")
		benchLine("apply.large.plan.requests", float64(mid["total"]-before["total"]), "req")
		benchLine("apply.large.apply.wall", applied.wall.Seconds(), "s")
		benchLine("apply.large.apply.requests", float64(after["total"]-mid["total"]), "req")
		benchLine("apply.large.apply.requests_per_action", float64(after["total"]-mid["total"])/n, "req")
		benchLine("apply.large.apply.actions_per_second", n/applied.wall.Seconds(), "actions/s")
		benchLine("apply.large.apply.peak_rss", applied.peakRSS, "MiB")
		if removed := after["graph.memberships.remove"] - mid["graph.memberships.remove"]; removed != n+1 {
			b.Errorf("%d removals sent for %d revokes and one write check", removed, n)
		}

		// Killed part-way, then resumed.
		auditBefore := auditCount(b, sim, "Group.UpdateGroupMembership.Remove")
		args := []string{"apply", "--decisions", second, "--apply", "--max-changes", "2000"}
		cmd := osexec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		waitJournal(b, db, second, n/3)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		done, started := journalCounts(b, db, second)
		atKill := requests()
		resumed := runMeasured(b, bin, env, args...)
		end := requests()
		sent := end["graph.memberships.remove"] - atKill["graph.memberships.remove"]
		// Allowed: one per action not finished at the kill, plus the write check.
		dups := max(0, sent-int64(n-done)-1)
		benchLine("apply.large.resume.done_at_kill", float64(done), "actions")
		benchLine("apply.large.resume.started_at_kill", float64(started), "actions")
		benchLine("apply.large.resume.wall", resumed.wall.Seconds(), "s")
		benchLine("apply.large.resume.removals_sent", float64(sent), "req")
		benchLine("apply.large.resume.duplicate_requests", float64(dups), "req")
		removed := auditCount(b, sim, "Group.UpdateGroupMembership.Remove") - auditBefore
		benchLine("apply.large.resume.memberships_removed", float64(removed), "memberships")
		if dups != 0 || removed != n {
			b.Errorf("after the kill: %d removals resent for finished actions, %d memberships removed for %d revokes", dups, removed, n)
		}
	}
}

// journalCounts reads how many actions of the plan from a decisions file
// are done and started.
func journalCounts(b *testing.B, db, source string) (done, started int) {
	st, err := snapshot.OpenExisting(context.Background(), db)
	if err != nil {
		return 0, 0
	}
	defer st.Close()
	plans, _ := st.Plans(context.Background())
	for _, p := range plans {
		if p.Source == source {
			return p.Statuses[snapshot.JournalDone], p.Statuses[snapshot.JournalStarted]
		}
	}
	return 0, 0
}

// waitJournal waits until at least n actions of the plan are done.
func waitJournal(b *testing.B, db, source string, n int) {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		if done, _ := journalCounts(b, db, source); done >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("the apply never got to %d actions", n)
}
