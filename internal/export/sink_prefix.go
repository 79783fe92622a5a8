package export

import (
	"context"
	"io"
	"strings"
)

// SubSink is the folder prefix of sink as a sink of its own: a campaign
// writes each scope's packet into one. prefix is slash-separated, without
// a leading or trailing slash.
func SubSink(s Sink, prefix string) Sink {
	return &prefixSink{s: s, p: strings.Trim(prefix, "/") + "/"}
}

type prefixSink struct {
	s Sink
	p string
}

func (p *prefixSink) Create(ctx context.Context, name string) (SinkFile, error) {
	return p.s.Create(ctx, p.p+name)
}

func (p *prefixSink) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	return p.s.Open(ctx, p.p+name)
}

func (p *prefixSink) List(ctx context.Context, prefix string) ([]string, error) {
	names, err := p.s.List(ctx, p.p+prefix)
	if err != nil {
		return nil, err
	}
	out := names[:0]
	for _, n := range names {
		if rest, ok := strings.CutPrefix(n, p.p); ok {
			out = append(out, rest)
		}
	}
	return out, nil
}

func (p *prefixSink) Delete(ctx context.Context, name string) error {
	return p.s.Delete(ctx, p.p+name)
}

func (p *prefixSink) String() string {
	return strings.TrimSuffix(p.s.String(), "/") + "/" + strings.TrimSuffix(p.p, "/")
}
