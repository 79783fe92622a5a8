package export

import (
	"time"
)

// Summary is what a packet's Summary sheet shows.
type Summary struct {
	Organization     string
	Run              int64
	RunText          string // instead of Run, for several organizations: each one's run
	SnapshotTime     time.Time
	PacketID         string
	ToolVersion      string
	Baseline         string // in words: "run 3", "packet … at …", "none"
	DormantDays      int
	PrivilegedGroups []string
	MaxPrivileged    int
	Tables           []Count           // rows per table, in packet order
	Dormant          int64             // dormant accounts
	Privileged       int64             // accounts with privileged access
	Findings         []Count           // by finding, in the order of FindingKinds
	Severity         map[string]string // of each finding
	HighFindings     int64             // findings of high severity
	Changes          []Count           // by kind, in the order of diff.Kinds
}

// Count is a named number.
type Count struct {
	Name string `json:"name"`
	N    int64  `json:"n"`
}

func total(cs []Count) int64 {
	var n int64
	for _, c := range cs {
		n += c.N
	}
	return n
}
