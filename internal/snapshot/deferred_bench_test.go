package snapshot

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkDeferredIndexBuild writes 600,000 memberships (the large
// preset's count, with descriptors as long as the service's) in a first full
// read and times the build of their deferred indexes at EndFull, with the
// sorter's helper threads and without, in the same run:
//
//	go test -run '^$' -bench DeferredIndexBuild -benchtime 1x ./internal/snapshot/
func BenchmarkDeferredIndexBuild(b *testing.B) {
	const groups, perGroup = 6000, 100
	pad := strings.Repeat("x", 80) // a group descriptor is about 110 characters, a user's 50
	build := func(threads int) time.Duration {
		old := indexBuildThreads
		indexBuildThreads = threads
		defer func() { indexBuildThreads = old }()
		ctx := context.Background()
		s, err := Open(ctx, filepath.Join(b.TempDir(), "store.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		w, err := s.Begin(ctx, "org", "full")
		if err != nil {
			b.Fatal(err)
		}
		if err := w.StartFull(Memberships); err != nil {
			b.Fatal(err)
		}
		for g := range groups {
			rows := make([]Row, perGroup)
			for m := range perGroup {
				// Members spread over the groups as users are, so the
				// member index is not in the table's order.
				rows[m] = member(fmt.Sprintf("vssgp.%s%05d", pad, g), fmt.Sprintf("aad.%s%06d", pad[:40], (m*7919+g*104729)%50000))
			}
			if err := w.ReplaceScope(Memberships, []any{rows[0][0]}, rows); err != nil {
				b.Fatal(err)
			}
		}
		start := time.Now()
		if err := w.EndFull(Memberships); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		if _, err := w.Commit(RunStats{}); err != nil {
			b.Fatal(err)
		}
		return took
	}
	for i := 0; i < b.N; i++ {
		one := build(0)
		two := build(indexBuildThreads)
		fmt.Printf("bench: snapshot.index_build.rows %d rows\n", groups*perGroup)
		fmt.Printf("bench: snapshot.index_build.one_thread %.3f s\n", one.Seconds())
		fmt.Printf("bench: snapshot.index_build.helper_threads %.3f s\n", two.Seconds())
		fmt.Printf("bench: snapshot.index_build.ratio %.3f ratio\n", two.Seconds()/one.Seconds())
	}
}
