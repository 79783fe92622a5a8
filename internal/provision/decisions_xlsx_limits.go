package provision

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"strings"
)

// Limits on what reading a filled-in workbook decompresses. The file is at
// most MaxDecisionFileSize, but a zip part may unpack to thousands of times
// its size (a zip bomb): every part's size is checked, from the zip's
// directory (archive/zip holds each part to its declared size), before a
// byte is decompressed, and every XML part is then read as a stream
// through textGuard before excelize or encoding/xml hold any of it whole.
const (
	// MaxWorkbookUnzipped is what all the parts of a workbook may
	// decompress to together. Exported sheets compress 5 to 10 times, so a
	// workbook of MaxDecisionFileSize is well inside it.
	MaxWorkbookUnzipped = 1 << 30
	// MaxWorkbookPart is what one part (a worksheet, the shared strings)
	// may decompress to.
	MaxWorkbookPart = 512 << 20
	// MaxWorkbookRatio is how many times its compressed size a part over
	// workbookSmallPart may decompress to; exported sheets are 5 to 10.
	MaxWorkbookRatio = 100
	// MaxWorkbookText is the longest run of characters between two
	// markups of a part's XML: a cell's value, an attribute, whitespace.
	// Excel's own cells hold at most 32,767 characters.
	MaxWorkbookText = 128 << 10
	// MaxReviewerLen and MaxCommentLen bound the cells a reviewer types
	// (in characters).
	MaxReviewerLen = 256
	MaxCommentLen  = 2000

	workbookSmallPart = 1 << 20
	// workbookStream: worksheets and shared strings larger than this are
	// read from a temporary file (excelize's UnzipXMLSizeLimit); smaller
	// ones, and every other part, in memory, at most workbookInMemory in
	// all.
	workbookStream   = 4 << 20
	workbookInMemory = 64 << 20
	maxWorkbookParts = 10_000
)

// inspectWorkbook checks a workbook against the limits above and returns
// the cells of the review sheets (selected by want) that hold a formula
// or a hyperlink: sheet → cell ("D7") → what (see scanMarkup). Its one
// pass over the file is what bounds the reading that follows.
func inspectWorkbook(ctx context.Context, file string, want func(sheet string) bool) (map[string]map[string]string, error) {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	if len(zr.File) > maxWorkbookParts {
		return nil, fmt.Errorf("%d parts, more than the %d a workbook may have", len(zr.File), maxWorkbookParts)
	}
	var total, inMemory uint64
	for _, f := range zr.File {
		size := f.UncompressedSize64
		total += size
		switch {
		case size > MaxWorkbookPart:
			return nil, fmt.Errorf("part %s decompresses to %d MiB, more than the %d MiB a workbook part may", clip(f.Name), size>>20, MaxWorkbookPart>>20)
		case total > MaxWorkbookUnzipped:
			return nil, fmt.Errorf("the parts decompress to more than the %d MiB a workbook may", MaxWorkbookUnzipped>>20)
		case size > workbookSmallPart && size > MaxWorkbookRatio*f.CompressedSize64:
			return nil, fmt.Errorf("part %s decompresses to %d MiB from %d KiB, more than %d times its size: a zip bomb, not a filled-in workbook",
				clip(f.Name), size>>20, f.CompressedSize64>>10, MaxWorkbookRatio)
		}
		if !streamedPart(f.Name) || size <= workbookStream {
			if inMemory += size; inMemory > workbookInMemory {
				return nil, fmt.Errorf("the parts read into memory decompress to more than %d MiB", workbookInMemory>>20)
			}
		}
	}
	parts, err := sheetParts(&zr.Reader)
	if err != nil {
		return nil, err
	}
	review := map[string]string{} // part → sheet
	for sheet, p := range parts {
		if want(sheet) {
			review[p] = sheet
		}
	}
	out := map[string]map[string]string{}
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !xmlPart(f.Name) {
			continue // not parsed; its size is bounded above
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("part %s: %w", clip(f.Name), err)
		}
		g := &textGuard{r: rc, part: f.Name}
		if sheet, ok := review[f.Name]; ok {
			out[sheet], err = scanMarkup(g)
		} else {
			_, err = io.Copy(io.Discard, g)
		}
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("part %s: %w", clip(f.Name), err)
		}
	}
	return out, nil
}

// streamedPart: the parts excelize reads from a temporary file when
// they are large.
func streamedPart(name string) bool {
	n := strings.ToLower(strings.ReplaceAll(name, `\`, "/"))
	return strings.HasPrefix(n, "xl/worksheets/sheet") || n == "xl/sharedstrings.xml"
}

func xmlPart(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".xml", ".rels", ".vml":
		return true
	}
	return false
}

// textGuard fails a read of XML that holds a run of more than
// MaxWorkbookText bytes without markup ('<' or '>'), which a parser would
// hold whole: a cell's value, an attribute, or padding.
type textGuard struct {
	r    io.Reader
	part string
	run  int
}

func (g *textGuard) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	b := p[:n]
	for {
		i := bytes.IndexAny(b, "<>")
		if i < 0 {
			g.run += len(b)
			break
		}
		if g.run+i > MaxWorkbookText {
			g.run += i
			break
		}
		g.run, b = 0, b[i+1:]
	}
	if g.run > MaxWorkbookText {
		return 0, fmt.Errorf("more than %d KiB of text without markup (a cell, an attribute or padding), more than a workbook cell holds", MaxWorkbookText>>10)
	}
	return n, err
}
