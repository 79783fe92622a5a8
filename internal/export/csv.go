package export

import (
	"io"
	"time"

	"github.com/ado-access/ado-access/internal/safecsv"
)

// csvWriter writes one table as CSV through safecsv, the one CSV writer of
// the product: RFC 4180, UTF-8, CRLF, a header, stable column order, and
// values a spreadsheet would evaluate defused with a leading apostrophe
// (internal/diff strips it again when it reads a packet).
type csvWriter struct {
	t *Table
	w *safecsv.Writer
}

// newCSVWriter starts a table's CSV, with a UTF-8 byte-order mark first
// when bom is set.
func newCSVWriter(w io.Writer, t *Table, bom bool) (*csvWriter, error) {
	c := &csvWriter{t: t, w: safecsv.NewWriter(w, bom)}
	return c, c.w.Record(t.ColumnNames())
}

func (c *csvWriter) Write(r Row) error { return c.w.Values(r) }

// Close flushes what is buffered; it does not close the underlying writer.
func (c *csvWriter) Close() error { return c.w.Flush() }

// formatInstant is how instants are written as text in CSV and manifests.
func formatInstant(t time.Time) string { return safecsv.FormatInstant(t) }
