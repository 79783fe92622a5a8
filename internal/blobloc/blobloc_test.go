package blobloc

import (
	"strings"
	"testing"
)

func TestRedaction(t *testing.T) {
	r := &Redactor{}
	r.Add("s3cr3t+key/==", "sig-value")
	msg := `Put "https://a.blob.core.windows.net/c/x?comp=block&sig=sig-value&se=2026": key s3cr3t+key/== and s3cr3t%2Bkey%2F%3D%3D`
	got := r.Redact(msg)
	for _, leak := range []string{"s3cr3t", "sig-value", "comp=block"} {
		if strings.Contains(got, leak) {
			t.Fatalf("%q leaks %q", got, leak)
		}
	}
	if !strings.Contains(got, "https://a.blob.core.windows.net/c/x?REDACTED") {
		t.Fatalf("redacted to %q", got)
	}
}
