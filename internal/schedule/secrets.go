package schedule

import (
	"net/url"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Schedule files are committed, mounted as ConfigMaps and printed in
// reviews, so they must never hold a secret. scanSecrets refuses what
// looks like one: a key named like a credential (pat, token, password,
// secret, account key, connection string, SAS), a URL carrying a SAS
// signature (sig=), an account key in a connection string, or a value
// shaped like an Azure DevOps personal access token, anywhere in a value
// (a description, a path). Errors never quote the value.
func scanSecrets(file, job, field string, n *yaml.Node) []error {
	var errs []error
	fail := func(field string, line int, msg string) {
		errs = append(errs, &Error{File: file, Job: job, Field: field, Line: line, Msg: msg + noSecrets})
	}
	var walk func(field string, n *yaml.Node)
	walk = func(field string, n *yaml.Node) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				f := k.Value
				if field != "" {
					f = field + "." + k.Value
				}
				if secretKey(k.Value) {
					fail(f, k.Line, "a key named like a secret")
					continue
				}
				walk(f, v)
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(field, c)
			}
		case yaml.ScalarNode:
			if why := secretValue(n.Value); why != "" {
				fail(field, n.Line, why)
			}
		case yaml.AliasNode, yaml.DocumentNode:
			// Aliases point at nodes walked where they are defined.
		}
	}
	walk(field, n)
	return errs
}

const noSecrets = "; schedule files must not hold secrets: give credentials in the environment (ADO_PAT, AZURE_STORAGE_SAS_TOKEN, AZURE_STORAGE_CONNECTION_STRING), with --pat-file, or through Microsoft Entra ID (managed or workload identity)"

// scanLines looks for credential-shaped values on every line of the raw
// file, which also covers comments (YAML drops or moves them) and lines a
// broken file never lets the parser reach. Lines in skip were already
// reported with their job and field.
func scanLines(file string, data []byte, skip map[int]bool) []error {
	var errs []error
	for i, line := range strings.Split(string(data), "\n") {
		if skip[i+1] {
			continue
		}
		if why := secretValue(line); why != "" {
			errs = append(errs, &Error{File: file, Line: i + 1, Msg: why + " (comments count too)" + noSecrets})
		}
	}
	return errs
}

// secretKeys are endings of key names (lower case, without _ and -) that
// name a credential: pat, ado_pat, client_secret, sas_token, account_key…
var secretKeys = []string{"pat", "token", "password", "passwd", "secret", "accountkey", "sas", "connectionstring", "apikey", "credential", "credentials", "privatekey"}

func secretKey(k string) bool {
	k = strings.ToLower(strings.NewReplacer("_", "", "-", "", " ", "").Replace(k))
	for _, s := range secretKeys {
		if strings.HasSuffix(k, s) {
			return true
		}
	}
	return false
}

var (
	// An Azure DevOps PAT: 52 characters of lower-case base32, or the
	// newer 84-character form with the AZDO signature.
	// Both are matched against whole runs of letters and digits, so a
	// token is found inside a sentence or a path but not in a longer run.
	oldPAT = regexp.MustCompile(`^[a-z2-7]{52}$`)
	newPAT = regexp.MustCompile(`^[A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4}$`)
)

// secretValue says why a value (or a line of text) holds something
// shaped like a secret anywhere in it, or "".
func secretValue(v string) string {
	lower := strings.ToLower(v)
	if strings.Contains(lower, "accountkey=") || strings.Contains(lower, "sharedaccesssignature=") {
		return "a connection string with a key or SAS"
	}
	for _, w := range strings.Fields(v) {
		w = strings.Trim(w, `"'`+"`,;()[]{}<>")
		if i := strings.IndexByte(w, '?'); i >= 0 && (strings.Contains(w, "://") || i == 0) {
			if q, err := url.ParseQuery(w[i+1:]); err == nil && (q.Has("sig") || q.Has("code")) {
				return "a URL with a SAS or key in its query (sig=)"
			}
		}
		if j := strings.Index(w, "://"); j >= 0 {
			if u, err := url.Parse(w[max(0, strings.LastIndexAny(w[:j], ":=")+1):]); err == nil && u.User != nil {
				if _, has := u.User.Password(); has {
					return "a URL with a password"
				}
			}
		}
	}
	alnum := func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}
	for _, run := range strings.FieldsFunc(v, alnum) {
		if oldPAT.MatchString(run) || newPAT.MatchString(run) {
			return "a value shaped like a personal access token"
		}
	}
	return ""
}
