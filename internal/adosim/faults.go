package adosim

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Faults make the simulator misbehave the way the service does under load.
// Rates are shares of API requests (0..1). Admin endpoints never fail.
type Faults struct {
	Latency Duration `json:"latency,omitempty"` // added to every API request
	// AreaLatency replaces Latency for the requests of an area (see
	// LatencyAreas and ParseLatency).
	AreaLatency map[string]Duration `json:"area_latency,omitempty"`

	Rate429       float64  `json:"rate_429,omitempty"`        // requests answered 429 at random
	Burst429Every int      `json:"burst_429_every,omitempty"` // every N requests a burst of 429s starts
	Burst429Len   int      `json:"burst_429_len,omitempty"`   // requests per burst
	RetryAfter    Duration `json:"retry_after,omitempty"`     // Retry-After on 429s, rounded to seconds (default 1s)
	DelayRate     float64  `json:"delay_rate,omitempty"`      // requests delayed and marked X-RateLimit-Delay
	Delay         Duration `json:"delay,omitempty"`           // how long a delayed request waits

	Rate5xx float64 `json:"rate_5xx,omitempty"` // requests answered 500 or 503
	RateCut float64 `json:"rate_cut,omitempty"` // connections cut before or in the middle of the answer
	// RateCutAfter is the share of requests carried out whose answer is
	// then lost: the connection is cut after the change was made, as when
	// a network drops a response. A client cannot tell from the cut
	// whether a write happened.
	RateCutAfter float64 `json:"rate_cut_after,omitempty"`

	RateExpireToken float64  `json:"rate_expire_token,omitempty"` // continuation tokens refused as expired
	TokenTTL        Duration `json:"token_ttl,omitempty"`         // tokens older than this are refused

	// Paths limits faults to requests whose path contains one of these
	// substrings (case-insensitive); empty means every API request.
	Paths []string `json:"paths,omitempty"`
}

// empty reports whether f makes no fault at all.
func (f Faults) empty() bool {
	return f.Latency == 0 && len(f.AreaLatency) == 0 && f.Rate429 == 0 && f.Burst429Every == 0 && f.DelayRate == 0 &&
		f.Rate5xx == 0 && f.RateCut == 0 && f.RateCutAfter == 0 && f.RateExpireToken == 0 && f.TokenTTL == 0
}

func (f Faults) applies(path string) bool {
	if len(f.Paths) == 0 {
		return true
	}
	lp := strings.ToLower(path)
	for _, p := range f.Paths {
		if strings.Contains(lp, strings.ToLower(p)) {
			return true
		}
	}
	return false
}

// Duration is a time.Duration that reads and writes JSON as "250ms".
type Duration time.Duration

func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n float64 // plain numbers are seconds
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration must be a string like \"250ms\" or a number of seconds")
		}
		*d = Duration(n * float64(time.Second))
		return nil
	}
	v, err := ParseDuration(s)
	*d = Duration(v)
	return err
}

// ParseDuration is time.ParseDuration that also accepts days ("90d").
func ParseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(days * 24 * float64(time.Hour)), nil
	}
	return time.ParseDuration(s)
}

// faultState holds the live fault configuration and its random source.
// Every request reads the configuration, so that read takes no lock.
type faultState struct {
	cur atomic.Pointer[Faults]
	mu  sync.Mutex
	f   Faults
	rng *rand.Rand
	n   int64 // API requests seen, for bursts
}

func newFaultState(f Faults, seed uint64) *faultState {
	fs := &faultState{f: f, rng: rand.New(rand.NewPCG(seed, 0xfa17))}
	fs.cur.Store(&f)
	return fs
}

func (fs *faultState) get() Faults { return *fs.cur.Load() }

func (fs *faultState) set(f Faults) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.f = f
	fs.n = 0
	fs.cur.Store(&f)
}

// draw reports whether an event of probability p happens.
func (fs *faultState) draw(p float64) bool {
	if p <= 0 {
		return false
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.rng.Float64() < p
}

// inBurst counts the request and reports whether it falls in a 429 burst.
func (fs *faultState) inBurst() bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.n++
	if fs.f.Burst429Every <= 0 || fs.f.Burst429Len <= 0 {
		return false
	}
	return (fs.n-1)%int64(fs.f.Burst429Every) < int64(fs.f.Burst429Len)
}

// expireToken reports whether a continuation token issued at issued is refused.
func (fs *faultState) expireToken(path string, issued time.Time) bool {
	f := fs.get()
	if !f.applies(path) {
		return false
	}
	if f.TokenTTL > 0 && time.Since(issued) > f.TokenTTL.D() {
		return true
	}
	return fs.draw(f.RateExpireToken)
}

// injectFault answers the request with a fault, or returns false to let it
// through. Throttled answers carry the service's rate-limit headers.
func (s *Server) injectFault(c *call, fs *faultState, f Faults) bool {
	if !f.applies(c.r.URL.Path) {
		return false
	}
	w := c.w
	burst := f.Burst429Every > 0 && f.Burst429Len > 0 && fs.inBurst()
	if burst || fs.draw(f.Rate429) {
		s.stats.count("fault_429")
		retry := f.RetryAfter.D()
		if retry <= 0 {
			retry = time.Second
		}
		// Retry-After carries whole seconds; a configured wait under half a
		// second becomes "0", which keeps fault tests fast.
		secs := int(math.Round(retry.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		w.Header().Set("X-RateLimit-Resource", "Core")
		w.Header().Set("X-RateLimit-Limit", "200")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(s.clock.Now().Add(retry).Unix(), 10))
		writeError(w, http.StatusTooManyRequests, "RequestBlockedException",
			"TF400733: The request has been canceled: Request was blocked due to exceeding usage of resource 'Core' in namespace 'User'. For more information on why your request was blocked, see the topic \"Rate limits\" on the Microsoft Web site (https://go.microsoft.com/fwlink/?LinkId=823950).")
		return true
	}
	if fs.draw(f.DelayRate) {
		s.stats.count("fault_delay")
		d := f.Delay.D()
		if d <= 0 {
			d = 100 * time.Millisecond
		}
		time.Sleep(d)
		w.Header().Set("X-RateLimit-Resource", "Core")
		w.Header().Set("X-RateLimit-Delay", strconv.FormatFloat(d.Seconds(), 'f', 3, 64))
		w.Header().Set("X-RateLimit-Limit", "200")
		w.Header().Set("X-RateLimit-Remaining", "20")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(s.clock.Now().Add(5*time.Minute).Unix(), 10))
	}
	if fs.draw(f.Rate5xx) {
		s.stats.count("fault_5xx")
		if fs.draw(0.5) {
			writeError(w, http.StatusServiceUnavailable, "ServiceUnavailableException", "TF400898: An Internal Error Occurred. Activity Id: "+w.Header().Get("ActivityId")+".")
		} else {
			writeError(w, http.StatusInternalServerError, "InternalServerErrorException", "VS402371: An unexpected error occurred. Activity Id: "+w.Header().Get("ActivityId")+".")
		}
		return true
	}
	if fs.draw(f.RateCut) {
		s.stats.count("fault_cut")
		s.cut(c, fs.draw(0.5))
		return true
	}
	return false
}

// cutAfter reports whether this request is to be carried out and its
// answer lost.
func (s *Server) cutAfter(c *call, f Faults) bool {
	if f.RateCutAfter <= 0 || !f.applies(c.r.URL.Path) || !s.faultsFor(c.o).draw(f.RateCutAfter) {
		return false
	}
	s.stats.count("fault_cut_after")
	return true
}

// discardAnswer is where the answer of a request whose answer is lost goes.
type discardAnswer struct{ h http.Header }

func (d discardAnswer) Header() http.Header         { return d.h }
func (d discardAnswer) Write(b []byte) (int, error) { return len(b), nil }
func (d discardAnswer) WriteHeader(int)             {}

// cut drops the connection: either before any answer, or after the headers
// and part of a body, which the client sees as an unexpected EOF.
func (s *Server) cut(c *call, midBody bool) {
	conn, buf, err := http.NewResponseController(c.w).Hijack()
	if err != nil {
		writeError(c.w, http.StatusBadGateway, "BadGateway", "connection reset")
		return
	}
	defer conn.Close()
	if midBody {
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 4096\r\n\r\n{\"count\":500,\"value\":[{\"subjectKind\":\"us")
		_ = buf.Flush()
	}
}
