package main

import (
	"fmt"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
)

// entraSweepValue is --entra-sweep: every-run (the default, 0), or how old
// the last sweep of Entra-side changes may be before an incremental run
// sweeps again (24h, 7d).
type entraSweepValue time.Duration

func (v *entraSweepValue) String() string {
	if v == nil || *v == 0 {
		return "every-run"
	}
	return time.Duration(*v).String()
}

func (v *entraSweepValue) Set(s string) error {
	if s == "every-run" {
		*v = 0
		return nil
	}
	d, err := adosim.ParseDuration(s)
	if err != nil || d <= 0 {
		return fmt.Errorf("want every-run, or a duration such as 6h or 1d")
	}
	*v = entraSweepValue(d)
	return nil
}
