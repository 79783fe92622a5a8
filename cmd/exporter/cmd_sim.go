package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
)

func newSimCmd() *Command {
	var (
		opts             adosim.Options
		listen, specFile string
		seed             uint64
		burst            string
		retention, lag   durationValue
		retry            durationValue
		latency          string
		tokenTTL         durationValue
		printSpec        bool
		orgs             int
	)
	return &Command{
		Name:    "sim",
		Summary: "serve a simulated Azure DevOps organization",
		Usage: `
Usage: exporter sim [--preset small|medium|large] [--seed N] [--orgs N] [--listen ADDR] [fault flags]

Serve a simulated Azure DevOps organization until interrupted. The real
Azure DevOps REST clients work against it unchanged: discovery, Graph,
member entitlements, core, Git, Audit Log, identities, security ACLs and
Microsoft Graph for Entra groups, with paging, continuation tokens,
PAT and bearer authentication, and injected faults.

On start it prints, one per line, for scripts to pick up:

  ADO_ORG_URL=http://127.0.0.1:PORT/ORG    the organization URL
  ADO_PAT=…                                a read/write PAT
  ADO_PAT_READONLY=…                       a read-only PAT (with Audit Log: Read)
  ADO_PAT_NOAUDIT=…                        a read-only PAT without Audit Log: Read
  ADO_BEARER_TOKEN=…                       an Entra access token for Azure DevOps
  MSGRAPH_URL=…  MSGRAPH_TOKEN=…           the simulated Microsoft Graph
  SIM_ADMIN_URL=http://127.0.0.1:PORT/_sim the admin endpoints
  ADO_ACCOUNTS_URL=http://127.0.0.1:PORT/_app  the service that lists the
                                           credential's organizations (Accounts
                                           and Profile), for 'sync --org all'
  ADO_ORG_URLS=…,…                         with --orgs: every organization's URL
  AZURE_AUTHORITY_HOST=https://127.0.0.1:PORT2/   the simulated Microsoft Entra ID
  AZURE_TENANT_ID=…  AZURE_CLIENT_ID=…  AZURE_CLIENT_SECRET=…
                                           an app that may read and write, with
                                           GroupMember.ReadWrite.All and
                                           User.Read.All on Graph
  SSL_CERT_FILE=…                          the Entra endpoint's certificate, to trust

These credentials exist only inside this simulator. With the AZURE_ and
SSL_CERT_FILE lines set, '--auth entra' signs in through azidentity as it
would with Microsoft Entra ID (which azidentity only reaches over https).

With --orgs N it serves N organizations behind the same credentials:
ORG (fabrikam), then contoso, northwind, tailspin, …, each of the preset's
size with its own seed (--seed, --seed+1, …), so each has its own people.

Admin endpoints (no credential needed, loopback only):
  GET  /_sim/stats          counts per entity kind, requests per endpoint, faults served
  POST /_sim/mutate         {"count":N,"seed":S,"kinds":[…]}: N random changes, each audited
  GET|POST /_sim/faults     read or replace the fault configuration (JSON)
  POST /_sim/advance        {"by":"100d"}: move the simulated clock forward
  POST /_sim/stats/reset    zero the request counters
  GET|POST /_sim/orgs       list the organizations, or add one:
                            {"Name":"acme","Preset":"small","Seed":7}
  DELETE /_sim/orgs/NAME    remove one (as if deleted, or access was lost)
  /_sim/NAME/stats|mutate|faults   the same, for one organization (faults
                            of its own: {"rate_5xx":1} makes it fail throughout)

--latency takes one duration for every request, or a profile by area:
AREA=DURATION pairs, "default" for the areas not named. Areas: graph,
identity, entitlements, core, git, audit, security, discovery, accounts,
msgraph, other (as the exporter's requests_by_area names them).

Presets: small (demo, ~50 users), medium (~5k users), large (50k users,
10k groups, 1,000 projects, ~600k direct memberships). --spec FILE takes
a JSON spec instead (the fields of a preset; see 'exporter sim --print-spec').

Examples:
  exporter sim
  exporter sim --preset large --listen 127.0.0.1:8080 --latency 20ms
  exporter sim --preset large --latency entitlements=300ms,graph=120ms,default=150ms
  exporter sim --fault-429 0.05 --retry-after 2s --fault-5xx 0.01 --fault-cut 0.01
  exporter sim --burst-429 100/10      # every 100 requests, 10 answered 429
  exporter sim --orgs 3                # fabrikam, contoso and northwind
`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&opts.Preset, "preset", "small", "organization size: small, medium or large")
			fs.StringVar(&specFile, "spec", "", "JSON file with a custom spec (overrides --preset)")
			fs.BoolVar(&printSpec, "print-spec", false, "print the spec of --preset as JSON and exit (a starting point for --spec)")
			fs.Uint64Var(&seed, "seed", 1, "generator seed: the same seed gives the same organization")
			fs.StringVar(&opts.Org, "org", "fabrikam", "organization name (of the first, with --orgs)")
			fs.IntVar(&orgs, "orgs", 1, "how many organizations to serve behind the same credentials")
			fs.StringVar(&listen, "listen", "127.0.0.1:0", "address to listen on (port 0 picks a free port)")
			fs.BoolVar(&opts.OnPrem, "on-prem", false, "answer discovery as Azure DevOps Server: every API under the organization URL")
			fs.StringVar(&latency, "latency", "", "latency added to every API request, e.g. 20ms, or per area: entitlements=300ms,graph=120ms,default=150ms")
			fs.Float64Var(&opts.Faults.Rate429, "fault-429", 0, "share of API requests answered 429 Too Many Requests (0..1)")
			fs.StringVar(&burst, "burst-429", "", "bursts of 429: EVERY/LEN, e.g. 100/10")
			fs.Var(&retry, "retry-after", "Retry-After on 429 answers (default 1s)")
			fs.Float64Var(&opts.Faults.Rate5xx, "fault-5xx", 0, "share of API requests answered 500 or 503 (0..1)")
			fs.Float64Var(&opts.Faults.RateCut, "fault-cut", 0, "share of API connections cut (0..1)")
			fs.Float64Var(&opts.Faults.RateExpireToken, "fault-expire-token", 0, "share of continuation tokens refused as expired (0..1)")
			fs.Var(&tokenTTL, "token-ttl", "continuation tokens older than this are refused, e.g. 30s")
			fs.Var(&retention, "audit-retention", "how long Audit Log entries are kept (default 90d)")
			fs.Var(&lag, "audit-lag", "new audit entries become visible up to this late, e.g. 2m")
		},
		Run: func(ctx context.Context, env *Env, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unexpected argument %q", args[0])
			}
			if printSpec {
				spec, ok := adosim.Presets[opts.Preset]
				if !ok {
					return usageErrorf("unknown preset %q (want small, medium or large)", opts.Preset)
				}
				b, _ := json.MarshalIndent(spec, "", "  ")
				fmt.Fprintln(env.Stdout, string(b))
				return nil
			}
			opts.Seed = seed
			if latency != "" {
				flat, areas, err := adosim.ParseLatency(latency)
				if err != nil {
					return usageErrorf("--latency: %v", err)
				}
				opts.Faults.Latency, opts.Faults.AreaLatency = flat, areas
			}
			opts.Faults.RetryAfter = adosim.Duration(retry)
			opts.Faults.TokenTTL = adosim.Duration(tokenTTL)
			opts.AuditRetention = time.Duration(retention)
			opts.AuditLag = time.Duration(lag)
			if burst != "" {
				every, length, ok := strings.Cut(burst, "/")
				e, err1 := strconv.Atoi(every)
				l, err2 := strconv.Atoi(length)
				if !ok || err1 != nil || err2 != nil || e <= 0 || l <= 0 || l > e {
					return usageErrorf("--burst-429 %q: want EVERY/LEN with 0 < LEN <= EVERY, e.g. 100/10", burst)
				}
				opts.Faults.Burst429Every, opts.Faults.Burst429Len = e, l
			}
			for name, r := range map[string]float64{"--fault-429": opts.Faults.Rate429, "--fault-5xx": opts.Faults.Rate5xx, "--fault-cut": opts.Faults.RateCut, "--fault-expire-token": opts.Faults.RateExpireToken} {
				if r < 0 || r > 1 {
					return usageErrorf("%s %v: a rate is a share between 0 and 1", name, r)
				}
			}
			if specFile != "" {
				spec, err := readSpec(specFile)
				if err != nil {
					return err
				}
				opts.Spec = &spec
			}
			if orgs < 1 || orgs > 100 {
				return usageErrorf("--orgs %d: want 1 to 100", orgs)
			}
			for i, name := range adosim.MoreOrgNames(orgs - 1) {
				opts.MoreOrgs = append(opts.MoreOrgs, adosim.OrgOptions{Name: name, Preset: opts.Preset, Spec: opts.Spec, Seed: seed + uint64(i) + 1})
			}
			opts.Logger = env.Logger
			start := time.Now()
			sim, err := adosim.New(opts)
			if err != nil {
				return usageErrorf("%v", err)
			}
			if err := sim.Start(listen); err != nil {
				return err
			}
			defer sim.Close()
			if err := sim.StartEntra(""); err != nil {
				return err
			}
			certFile, err := writeSimCert(sim.EntraCertPEM())
			if err != nil {
				return err
			}
			defer os.Remove(certFile)
			c := sim.Stats().Counts
			env.Logger.Info("simulated organization ready", "org", opts.Org, "preset", opts.Preset, "seed", seed,
				"users", c.Users, "groups", c.Groups, "memberships", c.Memberships, "projects", c.Projects,
				"generated_in", time.Since(start).Round(time.Millisecond))
			printSimEnv(env, sim, certFile)
			<-ctx.Done()
			env.Logger.Info("simulator stopped", "requests", sim.Stats().Requests["total"])
			return nil
		},
	}
}

// writeSimCert writes the identity platform's certificate where
// SSL_CERT_FILE can point.
func writeSimCert(pem []byte) (string, error) {
	f, err := os.CreateTemp("", "adosim-entra-*.pem")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Write(pem); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// printSimEnv prints the lines scripts pick up (KEY=VALUE on stdout).
func printSimEnv(env *Env, sim *adosim.Server, certFile string) {
	fmt.Fprintf(env.Stdout, "ADO_ORG_URL=%s\n", sim.URL())
	fmt.Fprintf(env.Stdout, "ADO_PAT=%s\n", sim.Credential("readwrite"))
	fmt.Fprintf(env.Stdout, "ADO_PAT_READONLY=%s\n", sim.Credential("readonly"))
	fmt.Fprintf(env.Stdout, "ADO_PAT_NOAUDIT=%s\n", sim.Credential("noaudit"))
	fmt.Fprintf(env.Stdout, "ADO_BEARER_TOKEN=%s\n", sim.Credential("bearer"))
	fmt.Fprintf(env.Stdout, "MSGRAPH_URL=%s\n", sim.MicrosoftGraphURL())
	fmt.Fprintf(env.Stdout, "MSGRAPH_TOKEN=%s\n", sim.Credential("msgraph"))
	fmt.Fprintf(env.Stdout, "SIM_ADMIN_URL=%s/_sim\n", sim.BaseURL())
	fmt.Fprintf(env.Stdout, "ADO_ACCOUNTS_URL=%s\n", sim.AccountsURL())
	if orgs := sim.Orgs(); len(orgs) > 1 {
		var urls []string
		for _, o := range orgs {
			urls = append(urls, sim.OrgURL(o.Name))
		}
		fmt.Fprintf(env.Stdout, "ADO_ORG_URLS=%s\n", strings.Join(urls, ","))
	}
	if apps := sim.EntraApps(); len(apps) > 0 && sim.EntraAuthorityHost() != "" {
		fmt.Fprintf(env.Stdout, "AZURE_AUTHORITY_HOST=%s\n", sim.EntraAuthorityHost())
		fmt.Fprintf(env.Stdout, "AZURE_TENANT_ID=%s\n", sim.TenantID())
		fmt.Fprintf(env.Stdout, "AZURE_CLIENT_ID=%s\n", apps[0].ClientID)
		fmt.Fprintf(env.Stdout, "AZURE_CLIENT_SECRET=%s\n", apps[0].Secret)
		fmt.Fprintf(env.Stdout, "SSL_CERT_FILE=%s\n", certFile)
	}
}

// readSpec reads a JSON spec, refusing unknown fields so typos are caught.
func readSpec(path string) (adosim.Spec, error) {
	f, err := os.Open(path)
	if err != nil {
		return adosim.Spec{}, fmt.Errorf("read spec: %w", err)
	}
	defer f.Close()
	var spec adosim.Spec
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return adosim.Spec{}, fmt.Errorf("spec %s: %w", path, err)
	}
	return spec, nil
}

// durationValue is a flag for durations that also accepts days ("90d").
type durationValue time.Duration

func (d *durationValue) String() string {
	if d == nil || *d == 0 {
		return ""
	}
	return time.Duration(*d).String()
}

func (d *durationValue) Set(s string) error {
	v, err := adosim.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("want a duration such as 250ms, 2m or 90d")
	}
	*d = durationValue(v)
	return nil
}
