package adosim

import (
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The benchmarks print "bench: <name> <value> <unit>" lines, one measure
// each; `make bench` runs them once (-benchtime 1x).

func benchLine(name string, value float64, unit string) {
	format := "bench: %s %.3g %s\n"
	if value >= 100 {
		format = "bench: %s %.0f %s\n"
	}
	fmt.Printf(format, name, value, unit)
}

const mib = 1 << 20

// BenchmarkGenerate measures generating each preset: wall time, the heap
// the organization keeps (after GC), and the process's peak RSS. It runs
// first, so the peak is generation's own. It also checks the large preset
// against its targets, which the race-enabled tests skip.
func BenchmarkGenerate(b *testing.B) {
	for _, preset := range []string{"large", "medium"} {
		b.Run(preset, func(b *testing.B) {
			var wall time.Duration
			var heap uint64
			var s *Server
			for range b.N {
				s = nil
				runtime.GC()
				var base runtime.MemStats
				runtime.ReadMemStats(&base)
				start := time.Now()
				var err error
				s, err = New(Options{Preset: preset, GeneratedAt: simEpoch})
				if err != nil {
					b.Fatal(err)
				}
				wall = time.Since(start)
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				heap = ms.HeapAlloc - min(base.HeapAlloc, ms.HeapAlloc)
			}
			peak := peakRSS()
			c := s.Stats().Counts
			if preset == "large" && (c.Users < 50000 || c.Groups < 9000 || c.Groups > 11000 || c.Projects != 1000 || c.Memberships < 540000 || c.Memberships > 660000) {
				b.Fatalf("large preset off its targets: %+v", c)
			}
			runtime.KeepAlive(s)
			b.ReportMetric(wall.Seconds(), "s/generate")
			b.ReportMetric(float64(heap)/mib, "MiB-heap")
			benchLine("adosim.generate."+preset+".wall", wall.Seconds(), "s")
			benchLine("adosim.generate."+preset+".heap", float64(heap)/mib, "MiB")
			if peak > 0 && preset == "large" { // the process's peak: only the first run's is its own
				benchLine("adosim.generate."+preset+".peak_rss", float64(peak)/mib, "MiB")
			}
			benchLine("adosim.generate."+preset+".memberships", float64(c.Memberships), "edges")
		})
	}
}

// listTarget is one kind of list request the collector makes, with the
// URLs to spread the load over.
type listTarget struct {
	name string
	urls []string
}

// collectorRequests builds realistic list requests against the large
// organization: Graph memberships (down) of groups, team members with
// isTeamAdmin a page of 100 at a time, and pages of projects.
func collectorRequests(s *Server) []listTarget {
	o := s.Org()
	o.mu.RLock()
	defer o.mu.RUnlock()
	r := rand.New(rand.NewPCG(1, 2))
	vssps := s.org.hostURL(hostVSSPS)
	org := s.org.hostURL(hostOrg)
	var groups []string
	for _, sub := range o.subjects {
		if sub.IsGroup() && !sub.Deleted {
			groups = append(groups, sub.Descriptor)
		}
	}
	var memberships, teamMembers, projects []string
	for range 4000 {
		g := groups[r.IntN(len(groups))]
		memberships = append(memberships, vssps+"/_apis/Graph/Memberships/"+g+"?direction=down")
		t := o.teams[r.IntN(len(o.teams))]
		teamMembers = append(teamMembers, org+"/_apis/projects/"+t.ProjectID+"/teams/"+t.ID+"/members?%24top=100&%24skip=0")
	}
	for skip := 0; skip < len(o.projects); skip += 100 {
		projects = append(projects, org+"/_apis/projects?%24top=100&continuationToken="+strconv.Itoa(skip))
	}
	return []listTarget{
		{"graph_memberships", memberships},
		{"team_members", teamMembers},
		{"projects", projects},
	}
}

// hammer sends the urls round-robin from workers keep-alive clients for d
// and returns the requests per second answered 200.
func hammer(b *testing.B, s *Server, workers int, d time.Duration, urls []string) (rps float64, bytesPerReq float64) {
	tr := &http.Transport{MaxIdleConns: workers, MaxIdleConnsPerHost: workers, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(":"+s.Credential("readonly")))
	var done, size atomic.Int64
	var failed atomic.Value
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; time.Now().Before(deadline); i += workers {
				req, _ := http.NewRequest(http.MethodGet, urls[i%len(urls)], nil)
				req.Header.Set("Authorization", auth)
				req.Header.Set("Accept", "application/json;api-version=7.1-preview.1")
				req.Header.Set("X-TFS-FedAuthRedirect", "Suppress")
				resp, err := hc.Do(req)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Store(fmt.Sprintf("%s: status %d", req.URL, resp.StatusCode))
					return
				}
				done.Add(1)
				size.Add(n)
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f != nil {
		b.Fatalf("list request failed: %v", f)
	}
	elapsed := time.Since(start)
	return float64(done.Load()) / elapsed.Seconds(), float64(size.Load()) / float64(max(done.Load(), 1))
}

// BenchmarkListRPS measures how many list requests per second the server
// answers on loopback against the large organization, with concurrent
// keep-alive clients: per kind of request and for the mix. The issue asks
// for over 5,000 per second. ADOSIM_BENCH_SECONDS sets the time per
// measure (default 2).
func BenchmarkListRPS(b *testing.B) {
	secs := 2.0
	if v, err := strconv.ParseFloat(os.Getenv("ADOSIM_BENCH_SECONDS"), 64); err == nil && v > 0 {
		secs = v
	}
	d := time.Duration(secs * float64(time.Second))
	s := startSim(b, Options{Preset: "large"})
	targets := collectorRequests(s)
	workers := 4 * runtime.GOMAXPROCS(0)
	b.ResetTimer()
	for range b.N {
		var mixed []string
		for _, tg := range targets {
			hammer(b, s, workers, d/10, tg.urls) // warm caches and connections
			rps, size := hammer(b, s, workers, d, tg.urls)
			benchLine("adosim.list."+tg.name+".rps", rps, "req/s")
			benchLine("adosim.list."+tg.name+".size", size/1024, "KiB/req")
			for i, u := range tg.urls {
				if i < 1000 {
					mixed = append(mixed, u)
				}
			}
		}
		rand.New(rand.NewPCG(3, 4)).Shuffle(len(mixed), func(i, j int) { mixed[i], mixed[j] = mixed[j], mixed[i] })
		rps, _ := hammer(b, s, workers, d, mixed)
		b.ReportMetric(rps, "req/s")
		benchLine("adosim.list.rps", rps, "req/s")
		benchLine("adosim.list.clients", float64(workers), "connections")
	}
}
