package export

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ado-access/ado-access/internal/diff"
)

// csvWriter writes one table as CSV (RFC 4180): UTF-8 without a byte order
// mark, a header row, CRLF after every record, fields quoted when they hold
// a comma, a quote, CR or LF (quotes doubled), bytes otherwise kept as
// they are. A string value that a spreadsheet would evaluate — one that
// begins with '=', '+', '-', '@', a tab or a carriage return — gets a
// leading apostrophe, which spreadsheets show as text and never evaluate;
// so does a value that already begins with one, so that internal/diff,
// stripping one leading apostrophe when it reads a packet, gets every value
// back exactly (diff.CSVEscape and diff.CSVUnescape are the one
// implementation of that rule).
type csvWriter struct {
	t   *Table
	w   *bufio.Writer
	buf []byte
}

func newCSVWriter(w io.Writer, t *Table) (*csvWriter, error) {
	c := &csvWriter{t: t, w: bufio.NewWriterSize(w, 64<<10)}
	rec := make([]string, len(t.Columns))
	copy(rec, t.ColumnNames())
	return c, c.record(rec)
}

func (c *csvWriter) Write(r Row) error {
	c.buf = c.buf[:0]
	for i, v := range r {
		if i > 0 {
			c.buf = append(c.buf, ',')
		}
		c.buf = appendCSVField(c.buf, csvText(v))
	}
	c.buf = append(c.buf, '\r', '\n')
	_, err := c.w.Write(c.buf)
	return err
}

func (c *csvWriter) record(fields []string) error {
	c.buf = c.buf[:0]
	for i, f := range fields {
		if i > 0 {
			c.buf = append(c.buf, ',')
		}
		c.buf = appendCSVField(c.buf, f)
	}
	c.buf = append(c.buf, '\r', '\n')
	_, err := c.w.Write(c.buf)
	return err
}

// Close flushes what is buffered; it does not close the underlying writer.
func (c *csvWriter) Close() error { return c.w.Flush() }

// csvText renders one value as CSV text: strings made safe, integers in
// decimal, booleans as true/false, instants as RFC 3339 UTC with
// fractional seconds when they have them (to the microsecond), null as an
// empty field.
func csvText(v any) string {
	switch x := v.(type) {
	case string:
		return diff.CSVEscape(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return formatInstant(x)
	}
	return ""
}

// formatInstant is how instants are written as text in CSV and manifests.
func formatInstant(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
}

func appendCSVField(b []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\r\n") {
		return append(b, s...)
	}
	b = append(b, '"')
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		b = append(b, s[:i+1]...)
		b = append(b, '"')
		s = s[i+1:]
	}
	b = append(b, s...)
	return append(b, '"')
}
