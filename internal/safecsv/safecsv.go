// Package safecsv writes every CSV the exporter produces: packet and
// warehouse tables, and the CSV of 'show' and 'diff'. It is RFC 4180 (a
// header row, CRLF after every record, fields quoted when they hold a comma,
// a quote, CR or LF, quotes doubled), UTF-8, and safe to open in a
// spreadsheet: a value from Azure DevOps that a spreadsheet would evaluate
// as a formula is written with a leading apostrophe, which spreadsheets
// show as text and never run. Unescape undoes it, so every value
// round-trips.
package safecsv

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// BOM is the UTF-8 byte-order mark some spreadsheets need to read UTF-8.
const BOM = "\ufeff"

// Escape makes a value safe for a spreadsheet. A value gets a leading
// apostrophe when it begins with what Excel, LibreOffice or Google Sheets
// evaluate or strip: '=', '+', '-', '@' and their full-width forms
// (U+FF1D, U+FF0B, U+FF0D, U+FF20), also after leading spaces; a tab, a
// carriage return or a line feed. A value that already begins with an
// apostrophe gets one more, so that Unescape, which strips exactly one,
// gives every value back.
func Escape(v string) string {
	if triggers(v) {
		return "'" + v
	}
	return v
}

// Unescape undoes Escape: it strips one leading apostrophe.
func Unescape(v string) string { return strings.TrimPrefix(v, "'") }

func triggers(v string) bool {
	if v == "" {
		return false
	}
	switch v[0] {
	case '\'', '\t', '\r', '\n':
		return true
	}
	rest := strings.TrimLeft(v, " \u00a0\u3000")
	r, _ := utf8.DecodeRuneInString(rest)
	switch r {
	case '=', '+', '-', '@', '＝', '＋', '－', '＠':
		return true
	}
	return false
}

// Text renders a value as CSV text: strings escaped, integers in decimal,
// booleans as true/false, instants as RFC 3339 UTC (to the microsecond),
// nil as an empty field.
func Text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return Escape(x)
	case []byte:
		return Escape(string(x))
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return FormatInstant(x)
	case *time.Time:
		if x == nil {
			return ""
		}
		return FormatInstant(*x)
	}
	return ""
}

// FormatInstant is how instants are written as text: RFC 3339 in UTC, with
// fractional seconds (to the microsecond) when they have them.
func FormatInstant(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
}

// Writer writes records. Header and Record take text as it is (header
// names are the exporter's own); Values renders and escapes values.
type Writer struct {
	w   *bufio.Writer
	buf []byte
}

// NewWriter writes to w, with a byte-order mark first if bom is set.
func NewWriter(w io.Writer, bom bool) *Writer {
	cw := &Writer{w: bufio.NewWriterSize(w, 64<<10)}
	if bom {
		cw.w.WriteString(BOM)
	}
	return cw
}

// Record writes fields as they are.
func (c *Writer) Record(fields []string) error {
	c.buf = c.buf[:0]
	for i, f := range fields {
		if i > 0 {
			c.buf = append(c.buf, ',')
		}
		c.buf = appendField(c.buf, f)
	}
	c.buf = append(c.buf, '\r', '\n')
	_, err := c.w.Write(c.buf)
	return err
}

// Values writes one record of values, each rendered by Text.
func (c *Writer) Values(vals []any) error {
	c.buf = c.buf[:0]
	for i, v := range vals {
		if i > 0 {
			c.buf = append(c.buf, ',')
		}
		c.buf = appendField(c.buf, Text(v))
	}
	c.buf = append(c.buf, '\r', '\n')
	_, err := c.w.Write(c.buf)
	return err
}

// Flush writes what is buffered; it does not close the underlying writer.
func (c *Writer) Flush() error { return c.w.Flush() }

func appendField(b []byte, s string) []byte {
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
