package history

import (
	"encoding/binary"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// MaxKeyBytes caps a series' identity (its name and labels, length-prefixed).
// Without a cap the table entries, and so the store, would have no size bound.
const MaxKeyBytes = 1024

// Label is one name/value pair of a series.
type Label struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Labels identify a series beside its metric name, sorted by Name.
type Labels []Label

// Get returns the value of the label name, or "" when the series has none.
func (ls Labels) Get(name string) string {
	for _, l := range ls {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

// String renders ls as Prometheus does: {a="1", b="2"}.
func (ls Labels) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range ls {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", l.Name, l.Value)
	}
	b.WriteByte('}')
	return b.String()
}

// appendKey appends the canonical identity of a series to dst: every string
// length-prefixed, so no byte in a name or value can make two series collide,
// and keys of one metric name share a prefix, so they sort together.
// ls must be sorted and free of empty values.
func appendKey(dst []byte, name string, ls Labels) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(name)))
	dst = append(dst, name...)
	for _, l := range ls {
		dst = binary.AppendUvarint(dst, uint64(len(l.Name)))
		dst = append(dst, l.Name...)
		dst = binary.AppendUvarint(dst, uint64(len(l.Value)))
		dst = append(dst, l.Value...)
	}
	return dst
}

// namePrefix is the key prefix every series of metric name starts with.
func namePrefix(name string) string {
	return string(appendKey(nil, name, nil))
}

// parseKey is the inverse of appendKey.
func parseKey(key string) (string, Labels, error) {
	var parts []string
	for len(key) > 0 {
		n, w := binary.Uvarint([]byte(key[:min(len(key), binary.MaxVarintLen64)]))
		if w <= 0 || uint64(len(key)-w) < n {
			return "", nil, fmt.Errorf("parse series key: bad length")
		}
		parts = append(parts, key[w:w+int(n)])
		key = key[w+int(n):]
	}
	if len(parts)%2 != 1 {
		return "", nil, fmt.Errorf("parse series key: %d parts", len(parts))
	}
	ls := make(Labels, 0, len(parts)/2)
	for i := 1; i < len(parts); i += 2 {
		ls = append(ls, Label{Name: parts[i], Value: parts[i+1]})
	}
	return parts[0], ls, nil
}

// normalizeLabels returns ls sorted with empty values dropped (Prometheus:
// an empty label is no label), copying into scratch only when ls is not
// already so (scratch grows as needed; nil means allocate). A repeated
// label name is an error.
func normalizeLabels(ls Labels, scratch *Labels) (Labels, error) {
	clean := true
	for i, l := range ls {
		if l.Value == "" || (i > 0 && ls[i-1].Name >= l.Name) {
			clean = false
			break
		}
	}
	if !clean {
		var c Labels
		if scratch != nil {
			if cap(*scratch) < len(ls) {
				*scratch = make(Labels, 0, len(ls))
			}
			c = (*scratch)[:0]
		}
		for _, l := range ls {
			if l.Value != "" {
				c = append(c, l)
			}
		}
		slices.SortFunc(c, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
		ls = c
	}
	for i, l := range ls {
		if l.Name == "" {
			return nil, fmt.Errorf("label with an empty name")
		}
		if i > 0 && ls[i-1].Name == l.Name {
			return nil, fmt.Errorf("label %q repeated", l.Name)
		}
	}
	return ls, nil
}

// MatchType says how a Matcher compares a label's value.
type MatchType int

// The matcher types of PromQL.
const (
	MatchEqual MatchType = iota
	MatchNotEqual
	MatchRegexp
	MatchNotRegexp
)

// Matcher selects series by one label. A label the series lacks has the
// value "", as in PromQL; regular expressions are anchored at both ends.
type Matcher struct {
	Name  string    `json:"name"`
	Type  MatchType `json:"type"`
	Value string    `json:"value"`
}

// matchers are Matchers ready to test, regular expressions compiled once.
type matchers struct {
	ms []Matcher
	re []*regexp.Regexp
}

func compileMatchers(ms []Matcher) (matchers, error) {
	m := matchers{ms: ms, re: make([]*regexp.Regexp, len(ms))}
	for i, x := range ms {
		switch x.Type {
		case MatchEqual, MatchNotEqual:
		case MatchRegexp, MatchNotRegexp:
			re, err := regexp.Compile("^(?:" + x.Value + ")$")
			if err != nil {
				return matchers{}, fmt.Errorf("compile matcher %s: %w", x.Name, err)
			}
			m.re[i] = re
		default:
			return matchers{}, fmt.Errorf("matcher %s: unknown type %d", x.Name, x.Type)
		}
	}
	return m, nil
}

func (m matchers) match(ls Labels) bool {
	for i, x := range m.ms {
		v := ls.Get(x.Name)
		var ok bool
		switch x.Type {
		case MatchEqual:
			ok = v == x.Value
		case MatchNotEqual:
			ok = v != x.Value
		case MatchRegexp:
			ok = m.re[i].MatchString(v)
		case MatchNotRegexp:
			ok = !m.re[i].MatchString(v)
		}
		if !ok {
			return false
		}
	}
	return true
}
