package main

import (
	"fmt"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/collect"
)

// tokenSweepValue is --token-sweep: every-run (0), off
// (collect.TokenSweepOff), or how old the last read of every user's tokens
// and SSH keys may be before a full sync reads them again (default 168h).
type tokenSweepValue time.Duration

func (v *tokenSweepValue) String() string {
	if v == nil {
		return collect.FormatTokenSweep(collect.DefaultTokenSweep)
	}
	return collect.FormatTokenSweep(time.Duration(*v))
}

func (v *tokenSweepValue) Set(s string) error {
	d, err := parseTokenSweep(s)
	if err != nil {
		return err
	}
	*v = tokenSweepValue(d)
	return nil
}

// parseTokenSweep reads a token sweep cadence; "" is the default (168h).
func parseTokenSweep(s string) (time.Duration, error) {
	switch s {
	case "":
		return collect.DefaultTokenSweep, nil
	case "every-run":
		return 0, nil
	case "off":
		return collect.TokenSweepOff, nil
	}
	d, err := adosim.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("want every-run, off, or a duration such as 168h or 7d")
	}
	return d, nil
}
