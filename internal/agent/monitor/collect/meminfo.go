package collect

import (
	"bytes"
	"fmt"
	"strings"
)

// memField is one /proc/meminfo line as node_exporter names it: the
// metric suffix ("MemTotal_bytes", "Active_anon_bytes", "HugePages_Total")
// and the value, in bytes for the lines the kernel gives in kB.
type memField struct {
	Name  string
	Value float64
}

// parseMeminfo parses /proc/meminfo into dst (reused). Field names follow
// node_exporter: "Active(anon)" becomes "Active_anon", a kB line gets the
// "_bytes" suffix and its value times 1024, a count (HugePages_Total) stays
// as it is. names caches the derived names so that a collection does not
// build them again.
func parseMeminfo(dst []memField, b []byte, names map[string]string) ([]memField, error) {
	dst = dst[:0]
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return dst, fmt.Errorf("parse /proc/meminfo line %q: no colon", line)
		}
		key := line[:colon]
		f, rest := nextField(line[colon+1:])
		unit, rest := nextField(rest)
		extra, _ := nextField(rest)
		v, ok := parseUint(f)
		if !ok || len(extra) != 0 || (len(unit) != 0 && string(unit) != "kB") {
			return dst, fmt.Errorf("parse /proc/meminfo line %q: want a number and an optional kB", line)
		}
		value := float64(v)
		if len(unit) != 0 {
			value *= 1024
		}
		name, ok := names[string(key)+string(unit)]
		if !ok {
			name = memMetricName(string(key), len(unit) != 0)
			names[string(key)+string(unit)] = name
		}
		dst = append(dst, memField{Name: name, Value: value})
	}
	if len(dst) == 0 {
		return dst, fmt.Errorf("parse /proc/meminfo: empty")
	}
	return dst, nil
}

func memMetricName(key string, bytesUnit bool) string {
	if i := strings.IndexByte(key, '('); i >= 0 {
		key = key[:i] + "_" + strings.Replace(key[i+1:], ")", "", 1)
	}
	if bytesUnit {
		return key + "_bytes"
	}
	return key
}
