package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ado-access/ado-access/internal/safecsv"
)

// rowWriter writes rows of named columns as a table, JSON or CSV. JSON and
// CSV stream; the table buffers to align its columns.
type rowWriter interface {
	Row(vals []any) error
	Close() error
}

func newRowWriter(w io.Writer, format string, cols []string) (rowWriter, error) {
	switch format {
	case "table":
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(cols, "\t")))
		return &tableWriter{tw: tw}, nil
	case "json":
		return &jsonWriter{w: bufio.NewWriter(w), cols: cols}, nil
	case "csv":
		cw := safecsv.NewWriter(w, false)
		if err := cw.Record(cols); err != nil {
			return nil, err
		}
		return &csvWriter{cw: cw}, nil
	}
	return nil, fmt.Errorf("unknown format %q (want table, json or csv)", format)
}

// cell renders a value as text.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

type tableWriter struct{ tw *tabwriter.Writer }

// displayEscaper keeps one entity on one line of a terminal table: names
// from Azure DevOps may hold tabs, newlines and other control characters.
var displayEscaper = strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`, "\x1b", `\e`)

func (t *tableWriter) Row(vals []any) error {
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = displayEscaper.Replace(cell(v))
		if parts[i] == "" {
			parts[i] = "-"
		}
	}
	_, err := fmt.Fprintln(t.tw, strings.Join(parts, "\t"))
	return err
}

func (t *tableWriter) Close() error { return t.tw.Flush() }

type jsonWriter struct {
	w    *bufio.Writer
	cols []string
	n    int
}

// jsonValue encodes one value without HTML escaping: names such as
// "<script>" stay as they are.
func jsonValue(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func (j *jsonWriter) Row(vals []any) error {
	sep := ",\n  "
	if j.n == 0 {
		sep = "[\n  "
	}
	j.n++
	j.w.WriteString(sep + "{")
	for i, c := range j.cols {
		if i > 0 {
			j.w.WriteString(", ")
		}
		k, _ := jsonValue(c)
		v, err := jsonValue(vals[i])
		if err != nil {
			return err
		}
		j.w.Write(k)
		j.w.WriteString(": ")
		j.w.Write(v)
	}
	_, err := j.w.WriteString("}")
	return err
}

func (j *jsonWriter) Close() error {
	if j.n == 0 {
		j.w.WriteString("[]\n")
	} else {
		j.w.WriteString("\n]\n")
	}
	return j.w.Flush()
}

// csvWriter writes CSV as packets do: values a spreadsheet would evaluate
// are defused (see safecsv).
type csvWriter struct{ cw *safecsv.Writer }

func (c *csvWriter) Row(vals []any) error { return c.cw.Values(vals) }

func (c *csvWriter) Close() error { return c.cw.Flush() }
