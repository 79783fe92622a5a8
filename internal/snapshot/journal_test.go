package snapshot

import (
	"context"
	"errors"
	"testing"
)

func TestJournalRecordsEachActionBeforeAndAfter(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	if !s.HasJournal(ctx) {
		t.Fatal("a new store has no journal")
	}
	p := PlanRecord{ID: "abc123", Org: "https://X/Org/", BaseRun: 4, PacketRun: 3, PacketID: "pk", Source: "packet.xlsx", Actions: 2, Actor: "aad.me"}
	if err := s.SavePlan(ctx, p); err != nil {
		t.Fatal(err)
	}
	e := JournalEntry{PlanID: p.ID, Seq: 1, SourceFile: "packet.xlsx", SourceSheet: "effective_access", SourceRow: 7,
		Action: "revoke", Subject: "aad.u", SubjectName: "U", Target: "vssgp.g", TargetName: "[P]\\G", Approver: "rev@x"}
	if err := s.JournalStart(ctx, e); err != nil {
		t.Fatal(err)
	}
	j, _ := s.Journal(ctx, p.ID)
	if len(j) != 1 || j[0].Status != JournalStarted || j[0].FinishedAt != nil || j[0].Attempts != 1 {
		t.Fatalf("after start: %+v", j)
	}
	if err := s.JournalFinish(ctx, p.ID, 1, JournalDone, 200, ""); err != nil {
		t.Fatal(err)
	}
	// A second start (a resumed plan) counts the attempt; a record of an
	// action never started is one write with a final status.
	if err := s.JournalStart(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := s.JournalFinish(ctx, p.ID, 1, JournalFailed, 500, "boom"); err != nil {
		t.Fatal(err)
	}
	if err := s.JournalRecord(ctx, JournalEntry{PlanID: p.ID, Seq: 2, Action: "grant", Status: JournalNoop, Error: "membership managed in Entra ID"}); err != nil {
		t.Fatal(err)
	}
	if err := s.JournalFinish(ctx, p.ID, 9, JournalDone, 200, ""); err == nil {
		t.Fatal("finishing an action never started must fail")
	}
	j, _ = s.Journal(ctx, p.ID)
	if len(j) != 2 || j[0].Status != JournalFailed || j[0].HTTPStatus != 500 || j[0].Error != "boom" || j[0].Attempts != 2 || j[0].FinishedAt == nil ||
		j[0].SourceRow != 7 || j[0].Approver != "rev@x" || j[1].Status != JournalNoop || j[1].Attempts != 0 {
		t.Fatalf("journal: %+v", j)
	}

	got, err := s.Plan(ctx, "abc")
	if err != nil || got.Org != "https://x/org" || got.PacketRun != 3 || got.Statuses[JournalFailed] != 1 || got.Statuses[JournalNoop] != 1 {
		t.Fatalf("plan by prefix: %+v %v", got, err)
	}
	if err := s.SavePlan(ctx, PlanRecord{ID: "abd999", Org: "o", Source: "plan.csv"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Plan(ctx, "ab"); !errors.Is(err, ErrNoPlan) {
		t.Fatalf("ambiguous prefix: %v", err)
	}
	if _, err := s.Plan(ctx, "zz"); !errors.Is(err, ErrNoPlan) {
		t.Fatalf("unknown plan: %v", err)
	}
	plans, _ := s.Plans(ctx)
	if len(plans) != 2 || plans[0].ID != p.ID {
		t.Fatalf("plans: %+v", plans)
	}
	if JournalFinal(JournalStarted) || JournalFinal(JournalFailed) || !JournalFinal(JournalSkipped) {
		t.Fatal("JournalFinal")
	}
}
