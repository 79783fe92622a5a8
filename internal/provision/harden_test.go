package provision

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/export"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// A grant into a group deleted after the sync answers 404: a permanent
// answer, sent once and failed, not retried as if it were passing.
func TestPermanent404IsSentOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adosim.Options{})
	um := e.userMemberships()
	mres, err := e.sim.Mutate(adosim.MutateRequest{Count: 1, Seed: 7, Kinds: []string{"group.delete"}})
	if err != nil || len(mres.Applied) != 1 {
		t.Fatalf("delete a group: %v %+v", err, mres)
	}
	gone := mres.Applied[0].Target
	p := e.mustBuild(e.mustRead(e.planCSV("plan.csv", planHeader, []string{"grant", um[0][0], gone, "", "", "a@b.example", ""})), Options{})
	if p.Count(StateApply) != 1 {
		t.Fatalf("plan: %v", states(p))
	}
	before := e.requests("graph.memberships.add")
	ap := &Applier{Store: e.st, Live: e.live(), Backoff: 1}
	res, err := ap.Apply(e.ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.requests("graph.memberships.add") - before; n != 1 {
		t.Fatalf("the grant was sent %d times, want once (a 404 is permanent)", n)
	}
	if o := res.Outcomes[0]; o.Status != snapshot.JournalFailed || o.HTTPStatus != 404 {
		t.Fatalf("outcome %+v, want failed with HTTP 404", o)
	}
}

// A JSON plan of null is bad input, not a plan of no actions.
func TestNullPlanJSONIsBadInput(t *testing.T) {
	t.Parallel()
	e := &env{t: t, dir: t.TempDir()}
	for name, body := range map[string]string{"null.json": "null", "actions-null.json": `{"actions": null}`} {
		_, err := ReadDecisions(t.Context(), e.writeFile(name, body), ReadOptions{})
		var ie *InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), "null") {
			t.Errorf("%s: %v, want an input error about null", name, err)
		}
	}
	if d, err := ReadDecisions(t.Context(), e.writeFile("empty.json", "[]"), ReadOptions{}); err != nil || len(d.Rows) != 0 {
		t.Errorf("an empty list: %v", err)
	}
}

// A plan CSV separated by semicolons (as some spreadsheets save CSV) is
// named as such, not taken for a packet table without a packet.
func TestSemicolonPlanCSVIsNamed(t *testing.T) {
	t.Parallel()
	e := &env{t: t, dir: t.TempDir()}
	path := e.writeFile("plan.csv", "action;subject;target;license;reason;approver;ticket\nrevoke;a@b.example;[P]\\Readers;;;x@y.example;\n")
	_, err := ReadDecisions(t.Context(), path, ReadOptions{})
	var ie *InputError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), `separator ";" is not recognised`) || strings.Contains(err.Error(), "manifest") {
		t.Fatalf("got %v", err)
	}
	path = e.writeFile("other.csv", "name,mail\nx,y\n")
	if _, err := ReadDecisions(t.Context(), path, ReadOptions{}); err == nil || !strings.Contains(err.Error(), "header") || !strings.Contains(err.Error(), "not recognised") {
		t.Fatalf("unknown header: %v", err)
	}
}

// A filled-in packet whose manifest was edited (its organization's id,
// name or URL, its snapshot time, a table's row count) is refused: the
// store confirms every field it can, and the files confirm the counts.
func TestEditedManifestIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adosim.Options{})
	dir := e.packet()
	wb := filepath.Join(dir, export.WorkbookName)
	s := openSheet(t, wb, TableEffective)
	s.decide(s.rowsWhere(true)[0], "Revoke")
	s.save()
	mpath := filepath.Join(dir, export.ManifestName)
	orig, err := os.ReadFile(mpath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.build(e.mustRead(wb), Options{}); err != nil {
		t.Fatalf("the packet as exported: %v", err)
	}
	edits := []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"org_id", func(m map[string]any) { m["org_id"] = "00000000-0000-0000-0000-000000000001" }, "org_id"},
		{"org_name", func(m map[string]any) { m["org_name"] = "contoso" }, "org_name"},
		{"org", func(m map[string]any) { m["org"], m["org_name"] = "https://dev.azure.com/contoso", "contoso" }, "another organization"},
		{"snapshot_time", func(m map[string]any) { m["snapshot_time"] = "2020-01-01T00:00:00Z" }, "snapshot_time"},
		{"tables n", func(m map[string]any) {
			for _, tb := range m["tables"].([]any) {
				if tb := tb.(map[string]any); tb["name"] == TableEffective {
					tb["n"] = tb["n"].(float64) - 1
				}
			}
		}, "table effective_access has"},
	}
	for _, c := range edits {
		var m map[string]any
		if err := json.Unmarshal(orig, &m); err != nil {
			t.Fatal(err)
		}
		c.edit(m)
		b, _ := json.Marshal(m)
		if err := os.WriteFile(mpath, b, 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := e.read(wb)
		if err == nil {
			_, err = e.build(d, Options{})
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s edited: %v, want an error naming %q", c.name, err, c.want)
		}
	}
}
