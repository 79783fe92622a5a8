package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/core"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/git"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/graph"

	"github.com/ado-access/ado-access/internal/adosim"
)

func newDemoCmd() *Command {
	var preset string
	return &Command{
		Name:    "demo",
		Summary: "run the main job against an embedded simulated organization",
		Usage: `
Usage: exporter demo [--preset small|medium|large]

Start a simulated Azure DevOps organization in this process and read what
it holds through the real Azure DevOps REST clients: accounts, groups,
service principals, projects and repositories. No Azure account needed.

Examples:
  exporter demo
  exporter demo --preset medium
`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&preset, "preset", "small", "organization size: small, medium or large")
		},
		Run: func(ctx context.Context, env *Env, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unexpected argument %q", args[0])
			}
			sim, err := adosim.New(adosim.Options{Preset: preset, Logger: env.Logger})
			if err != nil {
				return usageErrorf("%v", err)
			}
			if err := sim.Start("127.0.0.1:0"); err != nil {
				return err
			}
			defer sim.Close()
			env.Logger.Info("simulated organization started", "url", sim.URL(), "preset", preset)
			return listOrganization(ctx, env, sim.URL(), sim.Credential("readonly"))
		},
	}
}

// listOrganization reads an organization through the v7 clients and prints
// how many of each kind it holds, with a few examples.
func listOrganization(ctx context.Context, env *Env, orgURL, pat string) error {
	conn := azuredevops.NewPatConnection(orgURL, pat)
	gc, err := graph.NewClient(ctx, conn)
	if err != nil {
		return fmt.Errorf("connect to graph: %w", err)
	}
	var users, groups []string
	kinds := map[string]int{}
	var token *string
	for {
		page, err := gc.ListUsers(ctx, graph.ListUsersArgs{ContinuationToken: token})
		if err != nil {
			return fmt.Errorf("list users: %w", err)
		}
		for _, u := range *page.GraphUsers {
			kinds[subjectType(*u.Descriptor)]++
			users = append(users, *u.DisplayName)
		}
		if next := (*page.ContinuationToken)[0]; next != "" {
			token = &next
			continue
		}
		break
	}
	token = nil
	for {
		page, err := gc.ListGroups(ctx, graph.ListGroupsArgs{ContinuationToken: token})
		if err != nil {
			return fmt.Errorf("list groups: %w", err)
		}
		for _, g := range *page.GraphGroups {
			kinds[subjectType(*g.Descriptor)]++
			groups = append(groups, *g.PrincipalName)
		}
		if next := (*page.ContinuationToken)[0]; next != "" {
			token = &next
			continue
		}
		break
	}
	sps, err := gc.ListServicePrincipals(ctx, graph.ListServicePrincipalsArgs{})
	if err != nil {
		return fmt.Errorf("list service principals: %w", err)
	}
	cc, err := core.NewClient(ctx, conn)
	if err != nil {
		return fmt.Errorf("connect to core: %w", err)
	}
	projects, err := cc.GetProjects(ctx, core.GetProjectsArgs{})
	if err != nil {
		return fmt.Errorf("list projects: %w", err)
	}
	gitc, err := git.NewClient(ctx, conn)
	if err != nil {
		return fmt.Errorf("connect to git: %w", err)
	}
	repos, err := gitc.GetRepositories(ctx, git.GetRepositoriesArgs{})
	if err != nil {
		return fmt.Errorf("list repositories: %w", err)
	}

	fmt.Fprintf(env.Stdout, "Organization %s\n\n", orgURL)
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Entra users (aad.)\t%d\n", kinds["aad"])
	fmt.Fprintf(tw, "Microsoft accounts (msa.)\t%d\n", kinds["msa"])
	fmt.Fprintf(tw, "Service accounts (svc.)\t%d\n", kinds["svc"])
	fmt.Fprintf(tw, "Service principals (aadsp.)\t%d\n", len(*sps.GraphServicePrincipals))
	fmt.Fprintf(tw, "Azure DevOps groups (vssgp.)\t%d\n", kinds["vssgp"])
	fmt.Fprintf(tw, "Entra groups (aadgp.)\t%d\n", kinds["aadgp"])
	fmt.Fprintf(tw, "Projects\t%d\n", len(projects.Value))
	fmt.Fprintf(tw, "Repositories\t%d\n", len(*repos))
	tw.Flush()
	fmt.Fprintln(env.Stdout, "\nSome accounts:")
	for _, u := range users[:min(8, len(users))] {
		fmt.Fprintf(env.Stdout, "  %q\n", u)
	}
	fmt.Fprintln(env.Stdout, "Some groups:")
	for _, g := range groups[:min(8, len(groups))] {
		fmt.Fprintf(env.Stdout, "  %q\n", g)
	}
	return nil
}

func subjectType(descriptor string) string {
	t, _, _ := strings.Cut(descriptor, ".")
	return t
}
