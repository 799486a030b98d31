package backup

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// The manifest holds one line per path, so its entries have a hand-written
// codec: appendEntry writes exactly what encoding/json writes for a
// manifestEntry (with SetEscapeHTML(false) and a trailing newline), and
// parseEntry reads the lines appendEntry writes. Anything parseEntry does
// not recognise (a header, a trailer, an escaped string, a base64 path,
// whitespace) is left to encoding/json, so the result is the same either
// way; manifest_codec_test.go checks both claims.

// appendEntry appends m as one JSON line.
func appendEntry(b []byte, m *manifestEntry) []byte {
	b = append(b, '{')
	first := true
	key := func(k string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, '"', ':')
	}
	if m.Path != "" {
		key("path")
		b = appendRawPath(b, m.Path)
	}
	if m.Type != "" {
		key("type")
		b = appendJSONString(b, m.Type, false)
	}
	if m.Size != 0 {
		key("size")
		b = strconv.AppendInt(b, m.Size, 10)
	}
	if m.Mode != 0 {
		key("mode")
		b = strconv.AppendUint(b, uint64(m.Mode), 10)
	}
	if m.MtimeNS != 0 {
		key("mtime_ns")
		b = strconv.AppendInt(b, m.MtimeNS, 10)
	}
	if m.CtimeNS != 0 {
		key("ctime_ns")
		b = strconv.AppendInt(b, m.CtimeNS, 10)
	}
	if m.Inode != 0 {
		key("inode")
		b = strconv.AppendUint(b, m.Inode, 10)
	}
	if m.Nlink != 0 {
		key("nlink")
		b = strconv.AppendUint(b, m.Nlink, 10)
	}
	if m.UID != 0 {
		key("uid")
		b = strconv.AppendInt(b, int64(m.UID), 10)
	}
	if m.GID != 0 {
		key("gid")
		b = strconv.AppendInt(b, int64(m.GID), 10)
	}
	if m.SHA256 != "" {
		key("sha256")
		b = appendJSONString(b, m.SHA256, false)
	}
	if m.Link != "" {
		key("link")
		b = appendRawPath(b, m.Link)
	}
	if m.HardLink != "" {
		key("hardlink")
		b = appendRawPath(b, m.HardLink)
	}
	if m.Stored {
		key("stored")
		b = append(b, "true"...)
	}
	if m.Deleted {
		key("deleted")
		b = append(b, "true"...)
	}
	if m.Dump {
		key("dump")
		b = append(b, "true"...)
	}
	return append(b, '}', '\n')
}

// appendRawPath writes what rawPath.MarshalJSON returns: json.Marshal
// escapes <, > and &, and the encoder's compaction keeps those escapes.
func appendRawPath(b []byte, p rawPath) []byte {
	if utf8.ValidString(string(p)) {
		return appendJSONString(b, string(p), true)
	}
	b = append(b, `{"b64":"`...)
	b = base64.StdEncoding.AppendEncode(b, []byte(p))
	return append(b, '"', '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes valid UTF-8 the way encoding/json does.
func appendJSONString(b []byte, s string, escapeHTML bool) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!escapeHTML || (c != '<' && c != '>' && c != '&')) {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// decodeRecord reads one manifest line into rec, taking the fast path for
// plain entries and encoding/json for everything else.
func decodeRecord(line []byte, rec *manifestRecord) error {
	if parseEntry(line, &rec.manifestEntry) {
		return nil
	}
	*rec = manifestRecord{}
	return json.Unmarshal(line, rec)
}

// parseEntry parses a line as appendEntry writes it (without the newline).
// It returns false, with m in an unspecified state, for anything else.
func parseEntry(b []byte, m *manifestEntry) bool {
	*m = manifestEntry{}
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return false
	}
	i := 1
	if b[i] == '}' {
		return i == len(b)-1
	}
	for {
		// key
		if b[i] != '"' {
			return false
		}
		j := bytes.IndexByte(b[i+1:], '"')
		if j < 0 {
			return false
		}
		k := b[i+1 : i+1+j]
		i += j + 2
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i++
		if i >= len(b) {
			return false
		}
		var ok bool
		switch string(k) {
		case "path":
			var s string
			s, i, ok = parseString(b, i)
			m.Path = rawPath(s)
		case "type":
			var s string
			s, i, ok = parseString(b, i)
			switch s { // share the constants' memory
			case typeFile:
				s = typeFile
			case typeDir:
				s = typeDir
			case typeSymlink:
				s = typeSymlink
			}
			m.Type = s
		case "size":
			m.Size, i, ok = parseInt(b, i, 64)
		case "mode":
			var u uint64
			u, i, ok = parseUint(b, i, 32)
			m.Mode = uint32(u)
		case "mtime_ns":
			m.MtimeNS, i, ok = parseInt(b, i, 64)
		case "ctime_ns":
			m.CtimeNS, i, ok = parseInt(b, i, 64)
		case "inode":
			m.Inode, i, ok = parseUint(b, i, 64)
		case "nlink":
			m.Nlink, i, ok = parseUint(b, i, 64)
		case "uid":
			var n int64
			n, i, ok = parseInt(b, i, strconv.IntSize)
			m.UID = int(n)
		case "gid":
			var n int64
			n, i, ok = parseInt(b, i, strconv.IntSize)
			m.GID = int(n)
		case "sha256":
			m.SHA256, i, ok = parseString(b, i)
		case "link":
			var s string
			s, i, ok = parseString(b, i)
			m.Link = rawPath(s)
		case "hardlink":
			var s string
			s, i, ok = parseString(b, i)
			m.HardLink = rawPath(s)
		case "stored":
			m.Stored, i, ok = parseBool(b, i)
		case "deleted":
			m.Deleted, i, ok = parseBool(b, i)
		case "dump":
			m.Dump, i, ok = parseBool(b, i)
		}
		if !ok || i >= len(b) {
			return false
		}
		switch b[i] {
		case '}':
			return i == len(b)-1
		case ',':
			i++
			if i >= len(b) {
				return false
			}
		default:
			return false
		}
	}
}

// parseString reads a string without escapes that encoding/json would read
// unchanged: valid UTF-8 and no control characters.
func parseString(b []byte, i int) (string, int, bool) {
	if b[i] != '"' {
		return "", i, false
	}
	i++
	ascii := true
	for j := i; j < len(b); j++ {
		c := b[j]
		switch {
		case c == '"':
			s := b[i:j]
			if !ascii && !utf8.Valid(s) {
				return "", i, false
			}
			return string(s), j + 1, true
		case c == '\\' || c < 0x20:
			return "", i, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", i, false
}

// number returns the end of a JSON integer at b[i:], or false for anything
// that is not one (fractions and exponents included).
func number(b []byte, i int) (int, bool) {
	j := i
	if j < len(b) && b[j] == '-' {
		j++
	}
	if j >= len(b) || b[j] < '0' || b[j] > '9' {
		return i, false
	}
	if b[j] == '0' {
		j++
	} else {
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	}
	if j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E') {
		return i, false
	}
	return j, true
}

//nolint:unparam // bits is strconv.IntSize for int fields, which is 32 on 32-bit platforms
func parseInt(b []byte, i int, bits int) (int64, int, bool) {
	j, ok := number(b, i)
	if !ok {
		return 0, i, false
	}
	n, err := strconv.ParseInt(string(b[i:j]), 10, bits)
	return n, j, err == nil
}

func parseUint(b []byte, i int, bits int) (uint64, int, bool) {
	j, ok := number(b, i)
	if !ok || b[i] == '-' {
		return 0, i, false
	}
	n, err := strconv.ParseUint(string(b[i:j]), 10, bits)
	return n, j, err == nil
}

func parseBool(b []byte, i int) (bool, int, bool) {
	switch {
	case bytes.HasPrefix(b[i:], []byte("true")):
		return true, i + 4, true
	case bytes.HasPrefix(b[i:], []byte("false")):
		return false, i + 5, true
	}
	return false, i, false
}
