package safecsv

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	for v, want := range map[string]string{
		"=1+2": "'=1+2", "+SUM(1)": "'+SUM(1)", "-2": "'-2", "@x": "'@x", "\tx": "'\tx", "\rx": "'\rx", "\nx": "'\nx",
		"  =HYPERLINK(1)": "'  =HYPERLINK(1)", " +1": "' +1", "\u00a0-1": "'\u00a0-1",
		"＝1+1": "'＝1+1", "＋1": "'＋1", "－1": "'－1", "＠a": "'＠a", "\u3000＝x": "'\u3000＝x",
		"plain": "plain", "": "", "'quoted": "''quoted", "'=x": "''=x", "O'Brien": "O'Brien", "a=b": "a=b",
		"  plain": "  plain", "山田": "山田",
	} {
		if got := Escape(v); got != want {
			t.Errorf("Escape(%q) = %q, want %q", v, got, want)
		}
		if got := Unescape(Escape(v)); got != v {
			t.Errorf("Unescape(Escape(%q)) = %q", v, got)
		}
	}
}

// dangerous reports whether a spreadsheet would evaluate or strip a field
// as written: the rule restated independently of Escape.
func dangerous(field string) bool {
	if field == "" || field[0] == '\'' {
		return false
	}
	if strings.ContainsRune("\t\r\n", rune(field[0])) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(strings.TrimLeft(field, " \u00a0\u3000"))
	return strings.ContainsRune("=+-@＝＋－＠", r)
}

// Escaping round-trips every value through a real CSV reader, and no
// written field is one a spreadsheet would act on.
func FuzzWriter(f *testing.F) {
	for _, s := range []string{"", "=HYPERLINK(\"x\")", "+1", "-1", "@a", "\tx", "\rx", "\nx", " =x", "＝x", "a,b", `"q"`, "l1\nl2", "'=x", "山田", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		w := NewWriter(&buf, false)
		w.Record([]string{"s", "n"})
		w.Values([]any{s, int64(-1)})
		w.Flush()
		recs, err := csv.NewReader(&buf).ReadAll()
		if err != nil || len(recs) != 2 || len(recs[1]) != 2 {
			t.Fatalf("%q: not CSV: %v %q", s, err, recs)
		}
		if dangerous(recs[1][0]) {
			t.Fatalf("%q: written as %q, which a spreadsheet evaluates", s, recs[1][0])
		}
		// encoding/csv reads a CR LF inside a quoted field as LF.
		if got, want := Unescape(recs[1][0]), strings.ReplaceAll(s, "\r\n", "\n"); got != want {
			t.Fatalf("read back %q, want %q", got, want)
		}
		if recs[1][1] != "-1" {
			t.Fatalf("an integer was escaped: %q", recs[1][1])
		}
	})
}

func TestWriterFormat(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, true)
	w.Record([]string{"s", "n", "b", "at", "none"})
	w.Values([]any{`a "quoted", comma`, int64(7), true, time.Date(2026, 11, 1, 9, 30, 0, 123456789, time.UTC), nil})
	w.Flush()
	want := BOM + "s,n,b,at,none\r\n\"a \"\"quoted\"\", comma\",7,true,2026-11-01T09:30:00.123456Z,\r\n"
	if buf.String() != want {
		t.Fatalf("got %q\nwant %q", buf.String(), want)
	}
}
