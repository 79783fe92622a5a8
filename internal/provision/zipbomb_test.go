package provision

import (
	"archive/zip"
	"compress/flate"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/ado-access/ado-access/internal/adosim"
)

// rewriteWorkbook copies the workbook src to dst with the part named
// part written by fill instead (compressed as it is written, so the test
// keeps on disk only what the attacker would send).
func rewriteWorkbook(t *testing.T, src, dst, part string, fill func(w io.Writer) error) {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	zw := zip.NewWriter(out)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestSpeed) })
	for _, f := range zr.File {
		if f.Name == part {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: part, Method: zip.Deflate})
			if err != nil {
				t.Fatal(err)
			}
			if err := fill(w); err != nil {
				t.Fatal(err)
			}
			continue
		}
		w, err := zw.CreateRaw(&f.FileHeader)
		if err != nil {
			t.Fatal(err)
		}
		r, err := f.OpenRaw()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

// repeat writes n bytes made by next, 1 MiB at a time.
func repeat(w io.Writer, n int, next func(b []byte)) error {
	b := make([]byte, 1<<20)
	for n > 0 {
		next(b)
		k := min(n, len(b))
		if _, err := w.Write(b[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// oneCellSheet writes a worksheet whose cell A1 holds n bytes made by next.
func oneCellSheet(n int, next func(b []byte)) func(w io.Writer) error {
	return func(w io.Writer) error {
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>`)
		if err := repeat(w, n, next); err != nil {
			return err
		}
		_, err := io.WriteString(w, `</t></is></c></row></sheetData></worksheet>`)
		return err
	}
}

// A filled-in workbook made to exhaust time or memory (a zip bomb, a
// huge cell, megabytes of padding) is refused as bad input within 10 s
// and 256 MiB, with a short message; the file on disk stays small.
func TestHostileWorkbookIsRefusedQuickly(t *testing.T) {
	e := newEnv(t, adosim.Options{})
	dir := e.packet()
	workbook := filepath.Join(dir, "packet.xlsx")
	orig := filepath.Join(e.dir, "orig.xlsx")
	if err := os.Rename(workbook, orig); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(orig)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := sheetParts(&zr.Reader)
	zr.Close()
	if err != nil {
		t.Fatal(err)
	}
	sheet := parts["effective_access"]
	fillA := func(b []byte) {
		for i := range b {
			b[i] = 'A'
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	letters := func(b []byte) {
		for i := range b {
			b[i] = 'a' + byte(rng.IntN(26))
		}
	}
	cases := []struct {
		name string
		part string
		fill func(w io.Writer) error
		want string
	}{
		{"a cell of 256 MiB", sheet, oneCellSheet(256<<20, fillA), "zip bomb"},
		{"600 MiB of whitespace", sheet, func(w io.Writer) error {
			return repeat(w, 600<<20, func(b []byte) {
				for i := range b {
					b[i] = ' '
				}
			})
		}, "more than the 512 MiB"},
		{"shared strings of 256 MiB", "xl/sharedStrings.xml", oneCellSheet(256<<20, fillA), "zip bomb"},
		{"a cell of 2 MiB that compresses as text does", sheet, oneCellSheet(2<<20, letters), "without markup"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rewriteWorkbook(t, orig, workbook, c.part, c.fill)
			fi, _ := os.Stat(workbook)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := ReadDecisions(t.Context(), workbook, ReadOptions{})
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d KiB on disk: refused in %s, %d MiB allocated: %v", fi.Size()>>10, took.Round(time.Millisecond), alloc>>20, err)
			var ie *InputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an input error saying %q", err, c.want)
			}
			if took > 10*time.Second || alloc > 256<<20 {
				t.Errorf("refused in %s with %d MiB allocated; want within 10 s and 256 MiB", took, alloc>>20)
			}
			if len(err.Error()) > 400 || strings.Contains(err.Error(), strings.Repeat("A", 50)) {
				t.Errorf("a message of %d bytes: %.500s", len(err.Error()), err)
			}
		})
	}
}

// A Reviewer or Comment longer than a reviewer types is refused, and the
// message quotes a few dozen characters of it.
func TestLongReviewCellsAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adosim.Options{})
	workbook := filepath.Join(e.packet(), "packet.xlsx")
	f, err := excelize.OpenFile(workbook)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := f.GetRows("effective_access")
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	long := strings.Repeat("B", 30000)
	for c, v := range map[string]string{"Decision": "Revoke", "Reviewer": "a@b.example", "Comment": long} {
		cell, _ := excelize.CoordinatesToCellName(col[c]+1, 2)
		f.SetCellStr("effective_access", cell, v)
	}
	cell, _ := excelize.CoordinatesToCellName(col["Decision"]+1, 3)
	f.SetCellStr("effective_access", cell, strings.Repeat("C", 30000))
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = ReadDecisions(t.Context(), workbook, ReadOptions{})
	if err == nil || !strings.Contains(err.Error(), "Comment \"BBBB") || !strings.Contains(err.Error(), "more than the 2000") || !strings.Contains(err.Error(), "Decision \"CCC") {
		t.Fatalf("got %v", err)
	}
	if len(err.Error()) > 600 {
		t.Fatalf("a message of %d bytes", len(err.Error()))
	}
}
