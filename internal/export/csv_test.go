package export

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/safecsv"
)

var csvTable = &Table{Name: "t", Columns: []Column{str("s", ""), num("n", ""), flag("b", ""), stamp("at", "")}}

func writeCSVRows(t testing.TB, rows ...Row) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := newCSVWriter(&buf, csvTable, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := csvTable.check(r); err != nil {
			t.Fatal(err)
		}
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCSVIsRFC4180(t *testing.T) {
	at := time.Date(2026, 11, 1, 9, 30, 0, 123456789, time.UTC)
	got := string(writeCSVRows(t,
		Row{"plain", int64(7), true, at},
		Row{`a "quoted", comma`, int64(-1), false, nil},
		Row{"two\nlines", int64(0), false, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		Row{"=1+2", int64(1), true, nil},
	))
	want := "s,n,b,at\r\n" +
		"plain,7,true,2026-11-01T09:30:00.123456Z\r\n" +
		"\"a \"\"quoted\"\", comma\",-1,false,\r\n" +
		"\"two\nlines\",0,false,2026-01-02T03:04:05Z\r\n" +
		"'=1+2,1,true,\r\n"
	if got != want {
		t.Fatalf("CSV:\n%q\nwant\n%q", got, want)
	}
}

// Whatever a value holds, encoding/csv reads it back, and the documented
// unescape gives the value written. (encoding/csv reads a CR LF inside a
// quoted field as LF, as RFC 4180 readers may.)
func FuzzCSVRoundTrip(f *testing.F) {
	for _, s := range []string{"", "=HYPERLINK(\"x\")", "+1", "-1", "@a", "\tx", "\rx", "a,b", `"q"`, "l1\nl2", "'=x", "山田", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		data := writeCSVRows(t, Row{s, int64(1), false, nil})
		recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			t.Fatalf("%q: not CSV: %v\n%q", s, err, data)
		}
		if len(recs) != 2 || len(recs[1]) != 4 {
			t.Fatalf("%q: records %q", s, recs)
		}
		field := recs[1][0]
		if field != "" && strings.ContainsRune("=+-@\t\r", rune(field[0])) {
			t.Fatalf("%q: the field starts with a trigger: %q", s, field)
		}
		want := strings.ReplaceAll(s, "\r\n", "\n")
		if got := safecsv.Unescape(field); got != want {
			// encoding/csv drops a lone \r before \n only; anything else must match.
			t.Fatalf("read back %q, want %q", got, want)
		}
	})
}

// --csv-bom: the file starts with a UTF-8 byte-order mark, once, and
// nothing else changes. A nullable string column writes null (and ”,
// which check turns into null) as an empty field; a required one keeps ”.
func TestCSVByteOrderMarkAndNulls(t *testing.T) {
	tbl := &Table{Name: "t", Columns: []Column{str("s", ""), opt("o", "")}}
	write := func(bom bool) []byte {
		var buf bytes.Buffer
		w, err := newCSVWriter(&buf, tbl, bom)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []Row{{"", ""}, {"a", nil}, {"山田", "b"}} {
			if err := tbl.check(r); err != nil {
				t.Fatal(err)
			}
			if r[1] == "" {
				t.Fatal("check left '' in a nullable column")
			}
			w.Write(r)
		}
		w.Close()
		return buf.Bytes()
	}
	plain, bom := write(false), write(true)
	if want := "s,o\r\n,\r\na,\r\n山田,b\r\n"; string(plain) != want {
		t.Fatalf("CSV %q, want %q", plain, want)
	}
	if !bytes.Equal(bom, append([]byte("\xef\xbb\xbf"), plain...)) {
		t.Fatalf("with a BOM: %q", bom)
	}
	if err := tbl.check(Row{nil, nil}); err == nil {
		t.Fatal("null in a required column passed")
	}
}
