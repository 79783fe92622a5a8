package adosim

import (
	"fmt"
	"strings"
)

// parseEntitlementFilter parses the user entitlement $filter language:
// clauses "field eq 'value'" on licenseId, licenseStatus, userType and name,
// joined by and/or, with parentheses. An empty filter matches everything.
func parseEntitlementFilter(src string) (func(*Subject) bool, error) {
	if strings.TrimSpace(src) == "" {
		return func(*Subject) bool { return true }, nil
	}
	p := &filterParser{toks: tokenizeFilter(src)}
	f, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.pos])
	}
	return f, nil
}

type filterParser struct {
	toks []string
	pos  int
}

func (p *filterParser) next() string {
	if p.pos >= len(p.toks) {
		return ""
	}
	t := p.toks[p.pos]
	p.pos++
	return t
}

func (p *filterParser) peek() string {
	if p.pos >= len(p.toks) {
		return ""
	}
	return p.toks[p.pos]
}

func (p *filterParser) or() (func(*Subject) bool, error) {
	left, err := p.and()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "or") {
		p.next()
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(s *Subject) bool { return l(s) || right(s) }
	}
	return left, nil
}

func (p *filterParser) and() (func(*Subject) bool, error) {
	left, err := p.clause()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "and") {
		p.next()
		right, err := p.clause()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(s *Subject) bool { return l(s) && right(s) }
	}
	return left, nil
}

func (p *filterParser) clause() (func(*Subject) bool, error) {
	if p.peek() == "(" {
		p.next()
		f, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			return nil, fmt.Errorf("missing ')'")
		}
		return f, nil
	}
	field, op, lit := p.next(), p.next(), p.next()
	if !strings.EqualFold(op, "eq") {
		return nil, fmt.Errorf("want 'eq' after %q, got %q", field, op)
	}
	if len(lit) < 2 || lit[0] != '\'' {
		return nil, fmt.Errorf("want a quoted value after %s eq", field)
	}
	value := strings.ToLower(strings.ReplaceAll(lit[1:len(lit)-1], "''", "'"))
	switch strings.ToLower(field) {
	case "licenseid":
		return func(s *Subject) bool { return strings.ToLower(licenseID(s.Ent)) == value }, nil
	case "licensestatus":
		return func(s *Subject) bool { return strings.ToLower(s.Ent.Status) == value }, nil
	case "usertype":
		return func(s *Subject) bool { return strings.ToLower(s.MetaType) == value }, nil
	case "name":
		// Name clauses are often or-ed by the dozen; compare without
		// lower-casing each name once per clause.
		return func(s *Subject) bool {
			return containsFold(s.DisplayName, value) || containsFold(s.Mail, value)
		}, nil
	}
	return nil, fmt.Errorf("unknown field %q (want licenseId, licenseStatus, userType or name)", field)
}

// tokenizeFilter splits on spaces and parentheses, keeping quoted strings whole.
func tokenizeFilter(src string) []string {
	var toks []string
	for i := 0; i < len(src); {
		switch ch := src[i]; {
		case ch == ' ' || ch == '\t':
			i++
		case ch == '(' || ch == ')':
			toks = append(toks, string(ch))
			i++
		case ch == '\'':
			j := i + 1
			for j < len(src) {
				if src[j] == '\'' {
					if j+1 < len(src) && src[j+1] == '\'' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			toks = append(toks, src[i:min(j+1, len(src))])
			i = j + 1
		default:
			j := i
			for j < len(src) && !strings.ContainsRune(" \t()'", rune(src[j])) {
				j++
			}
			toks = append(toks, src[i:j])
			i = j
		}
	}
	return toks
}

// containsFold reports whether lower (already lower case) occurs in s,
// ignoring case, without allocating.
func containsFold(s, lower string) bool {
	n := len(lower)
	if n == 0 {
		return true
	}
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], lower) {
			return true
		}
	}
	return false
}
