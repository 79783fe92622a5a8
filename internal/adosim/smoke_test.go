package adosim

import (
	"context"
	"testing"
	"time"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/audit"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/core"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/git"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/graph"
)

func TestSmoke(t *testing.T) {
	t0 := time.Now()
	s, err := New(Options{Preset: "small"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generated in %v: %+v", time.Since(t0), s.Stats().Counts)
	if err := s.Start(""); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	conn := azuredevops.NewPatConnection(s.URL(), s.Credential("readonly"))
	gc, err := graph.NewClient(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	var tok *string
	n := 0
	for {
		page, err := gc.ListUsers(ctx, graph.ListUsersArgs{ContinuationToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		n += len(*page.GraphUsers)
		if (*page.ContinuationToken)[0] == "" {
			break
		}
		tok = &(*page.ContinuationToken)[0]
	}
	t.Logf("users %d", n)
	cc, err := core.NewClient(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := cc.GetProjects(ctx, core.GetProjectsArgs{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("projects %d", len(ps.Value))
	gitc, err := git.NewClient(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := gitc.GetRepositories(ctx, git.GetRepositoriesArgs{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("repos %d", len(*rs))
	ac, err := audit.NewClient(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ac.QueryLog(ctx, audit.QueryLogArgs{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("audit %d hasMore=%v", len(*res.DecoratedAuditLogEntries), *res.HasMore)
}
