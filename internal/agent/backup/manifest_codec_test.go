package backup

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// codecPaths are names that exercise every escape encoding/json knows.
var codecPaths = []string{
	"", "etc/hosts", "a b", `quo"te`, `back\slash`, "tab\there", "nl\nx", "cr\rx", "bs\bx", "ff\fx",
	"\x00\x01\x1f\x7f", "<html>&amp;", "line\u2028sep\u2029", "héllo wörld", "日本語", "emoji 😀",
	"\xff\xfe not utf-8", "half \xe6\x97", "/", "a/b/c",
}

func randomEntry(rng *rand.Rand) *manifestEntry {
	pick := func() rawPath {
		if rng.IntN(3) == 0 {
			return rawPath(codecPaths[rng.IntN(len(codecPaths))])
		}
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = byte(rng.IntN(256))
			if rng.IntN(2) == 0 {
				b[i] = 'a' + byte(rng.IntN(26))
			}
		}
		return rawPath(b)
	}
	i64 := func() int64 {
		switch rng.IntN(4) {
		case 0:
			return 0
		case 1:
			return rng.Int64() - math.MaxInt64/2
		case 2:
			return math.MinInt64 + rng.Int64N(2)
		}
		return rng.Int64N(1 << 40)
	}
	u64 := func() uint64 {
		if rng.IntN(3) == 0 {
			return 0
		}
		return rng.Uint64() >> rng.IntN(64)
	}
	return &manifestEntry{
		Path: pick(), Type: []string{"", typeFile, typeDir, typeSymlink, "odd<&>"}[rng.IntN(5)],
		Size: i64(), Mode: uint32(u64()), MtimeNS: i64(), CtimeNS: i64(), Inode: u64(), Nlink: u64(),
		UID: int(i64()), GID: int(i64()), SHA256: []string{"", "0123abcdef", "é"}[rng.IntN(3)],
		Link: pick(), HardLink: pick(), Stored: rng.IntN(2) == 0, Deleted: rng.IntN(2) == 0, Dump: rng.IntN(2) == 0,
	}
}

func jsonLine(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The hand-written codec writes byte for byte what encoding/json writes, and
// reads every line the way encoding/json reads it.
func TestManifestCodec_matchesEncodingJSON(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 20000 {
		m := randomEntry(rng)
		if i < len(codecPaths) {
			m = &manifestEntry{Path: rawPath(codecPaths[i]), Link: rawPath(codecPaths[i]), Type: typeFile, Size: 1}
		}
		want := jsonLine(t, m)
		got := appendEntry(nil, m)
		if !bytes.Equal(got, want) {
			t.Fatalf("appendEntry(%+v)\n got %s\nwant %s", m, got, want)
		}
		checkDecode(t, bytes.TrimSuffix(got, []byte("\n")))
	}
}

func checkDecode(t *testing.T, line []byte) {
	t.Helper()
	var want manifestRecord
	wantErr := json.Unmarshal(line, &want)
	var got manifestRecord
	gotErr := decodeRecord(line, &got)
	if (gotErr != nil) != (wantErr != nil) || (wantErr == nil && !reflect.DeepEqual(got, want)) {
		t.Fatalf("decode %q:\n got %+v, %v\nwant %+v, %v", line, got, gotErr, want, wantErr)
	}
}

// Lines the fast path must hand over to encoding/json, or reject as it does.
func TestManifestCodec_oddLines(t *testing.T) {
	t.Parallel()
	lines := []string{
		`{}`, `{"path":"a"}`, `{"path":"a","path":"b"}`, `{"Path":"a"}`, `{"PATH":"a","size":1}`,
		`{"path":{"b64":"/w=="}}`, `{"path":"a\u0041"}`, `{"path":"a\"b"}`, `{"pa\u0074h":"x"}`,
		`{"size":1.5}`, `{"size":1e3}`, `{"size":-0}`, `{"size":01}`, `{"size":-}`, `{"size":9223372036854775808}`,
		`{"mode":4294967296}`, `{"mode":-1}`, `{"inode":-0}`, `{"inode":18446744073709551615}`, `{"uid":null}`,
		`{"stored":true}`, `{"stored":false}`, `{"stored":tru}`, `{"stored":"true"}`, `{"deleted":true,"dump":true}`,
		`{"path":"a",}`, `{"path":"a"`, `{"path":"a"} `, ` {"path":"a"}`, `{"path" : "a"}`, `{"path":"a"}x`,
		`{"path":"a` + "\x01" + `"}`, `{"path":"` + "\xff" + `"}`, `{"path":"é"}`, `{"x":1}`, `{"x":1,"size":2}`,
		`{"header":{"version":1,"id":"x"}}`, `{"trailer":{"files":1,"archive_sha256":"ab"}}`, `{"header":null}`,
		`[]`, `null`, `"x"`, `{`, `}`, `{"path":"a"}{"path":"b"}`, `{"type":"file","size":3,"sha256":"ab","stored":true}`,
	}
	for _, l := range lines {
		checkDecode(t, []byte(l))
	}
	// Random damage to good lines.
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		line := bytes.TrimSuffix(appendEntry(nil, randomEntry(rng)), []byte("\n"))
		for range 1 + rng.IntN(3) {
			k := rng.IntN(len(line))
			switch rng.IntN(3) {
			case 0:
				const junk = `{}[]":,.-+e0123456789tfn\ ab`
				line[k] = junk[rng.IntN(len(junk))]
			case 1:
				line = append(line[:k], line[k+1:]...)
			default:
				line = append(line[:k], append([]byte{byte(rng.IntN(256))}, line[k:]...)...)
			}
			if len(line) == 0 {
				line = []byte("{")
			}
		}
		checkDecode(t, line)
	}
}

func TestManifestReader_longLinesAndOldHeader(t *testing.T) {
	t.Parallel()
	long := &manifestEntry{Path: rawPath(strings.Repeat("x", 200<<10)), Type: typeFile}
	var in []byte
	in = append(in, `{"header":{"version":1,"id":"i","schedule":"s","time":"2026-11-26T13:30:00Z","kind":"full","archive_sha256":"old","archive_bytes":3}}`+"\n"...)
	in = appendEntry(in, &manifestEntry{Path: "a", Type: typeDir})
	in = append(in, "\n  \n"...)
	in = appendEntry(in, long)
	in = append(in, `{"trailer":{"files":2}}`...) // no final newline
	mr := newManifestReader(bytes.NewReader(in))
	var got []string
	for {
		m, err := mr.next()
		if err != nil {
			break
		}
		got = append(got, string(m.Path))
	}
	if len(got) != 2 || got[0] != "a" || got[1] != string(long.Path) {
		t.Fatalf("read %d entries", len(got))
	}
	if mr.trailer == nil || mr.trailer.Files != 2 || mr.archiveSHA256() != "old" {
		t.Fatalf("trailer %+v, archive digest %q", mr.trailer, mr.archiveSHA256())
	}
}
