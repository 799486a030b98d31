package backup

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// tarCases are entries that exercise every pax record the writer emits.
func tarCases() []tarHeader {
	long := strings.Repeat("d/", 60) + "file"
	return []tarHeader{
		{typeflag: tarDir, name: "etc/", mode: 0o755, mtimeNS: 1_700_000_000_123_456_789},
		{typeflag: tarReg, name: "etc/hosts", size: 5, mode: 0o644, uid: 1000, gid: 1000, mtimeNS: 1_700_000_000_000_000_000},
		{typeflag: tarReg, name: "etc/empty", mode: 0o4755, mtimeNS: 1_700_000_000_500_000_000},
		{typeflag: tarSymlink, name: "etc/link", linkname: "../" + long, mtimeNS: -1_500_000_000},
		{typeflag: tarLink, name: "etc/hard", linkname: "etc/hosts", mtimeNS: 5},
		{typeflag: tarReg, name: long, size: 700, uid: 1 << 22, gid: 1 << 30, mtimeNS: 1 << 62},
		{typeflag: tarReg, name: "etc/\xff\xfe not utf-8 $(x)\n" + strings.Repeat("x", 100), size: 1, mode: 0o600},
	}
}

func writeTarCases(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := newTarWriter(&b)
	for _, h := range tarCases() {
		must(t, tw.writeHeader(&h))
		if h.typeflag == tarReg {
			_, err := tw.Write(bytes.Repeat([]byte{'a'}, int(h.size)))
			must(t, err)
		}
	}
	must(t, tw.Close())
	if b.Len()%tarBlock != 0 {
		t.Fatalf("archive of %d bytes is not a whole number of blocks", b.Len())
	}
	return b.Bytes()
}

func TestTarWriter_readByArchiveTar(t *testing.T) {
	t.Parallel()
	tr := tar.NewReader(bytes.NewReader(writeTarCases(t)))
	for _, want := range tarCases() {
		got, err := tr.Next()
		must(t, err)
		content, err := io.ReadAll(tr)
		must(t, err)
		if got.Name != want.name || got.Linkname != want.linkname || got.Size != want.size || got.Typeflag != want.typeflag ||
			got.Mode != want.mode || got.Uid != want.uid || got.Gid != want.gid || !got.ModTime.Equal(time.Unix(0, want.mtimeNS)) {
			t.Errorf("entry %q read back as %+v", want.name, got)
		}
		if int64(len(content)) != want.size {
			t.Errorf("%q: %d bytes of content, want %d", want.name, len(content), want.size)
		}
	}
	if _, err := tr.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last entry: %v, want EOF", err)
	}
}

func TestTarReader_readsOwnAndArchiveTarOutput(t *testing.T) {
	t.Parallel()
	// The same entries written by archive/tar in pax format, as snapshots
	// made before the engine wrote its own headers are.
	var goTar bytes.Buffer
	tw := tar.NewWriter(&goTar)
	for _, h := range tarCases() {
		must(t, tw.WriteHeader(&tar.Header{Typeflag: h.typeflag, Name: h.name, Linkname: h.linkname, Size: h.size, Mode: h.mode,
			Uid: h.uid, Gid: h.gid, ModTime: time.Unix(0, h.mtimeNS), Format: tar.FormatPAX}))
		_, err := tw.Write(bytes.Repeat([]byte{'a'}, int(h.size)))
		must(t, err)
	}
	must(t, tw.Close())

	for name, archive := range map[string][]byte{"tarWriter": writeTarCases(t), "archive/tar": goTar.Bytes()} {
		tr := newTarReader(bytes.NewReader(archive))
		for i, want := range tarCases() {
			got, err := tr.next()
			if err != nil {
				t.Fatalf("%s: entry %d: %v", name, i, err)
			}
			if i%2 == 0 { // every other entry is read, the rest skipped by next
				content, err := io.ReadAll(tr)
				must(t, err)
				if int64(len(content)) != want.size || bytes.Count(content, []byte{'a'}) != len(content) {
					t.Errorf("%s: %q: content %q", name, want.name, content)
				}
			}
			wantH := tarHeader{typeflag: want.typeflag, name: want.name, linkname: want.linkname, size: want.size}
			if diff := cmp.Diff(wantH, *got, cmp.AllowUnexported(tarHeader{})); diff != "" {
				t.Errorf("%s: entry %d (-want +got):\n%s", name, i, diff)
			}
		}
		if _, err := tr.next(); !errors.Is(err, io.EOF) {
			t.Fatalf("%s: after the last entry: %v, want EOF", name, err)
		}
	}
}

func TestAppendPAXRecord_lengthCountsItsOwnDigits(t *testing.T) {
	t.Parallel()
	for vlen := range 300 {
		rec := appendPAXRecord(nil, "path", strings.Repeat("p", vlen))
		sp := bytes.IndexByte(rec, ' ')
		if got := string(rec[:sp]); got != strconv.Itoa(len(rec)) {
			t.Fatalf("value of %d bytes: record says %s bytes, is %d: %q", vlen, got, len(rec), rec)
		}
	}
}

func TestFormatPAXTime(t *testing.T) {
	t.Parallel()
	for ns, want := range map[int64]string{
		0: "0", 1_500_000_000: "1.5", -1_500_000_000: "-1.5", -1: "-0.000000001",
		1_700_000_000_123_456_789: "1700000000.123456789", 1_700_000_000_000_000_000: "1700000000",
	} {
		if got := formatPAXTime(ns); got != want {
			t.Errorf("formatPAXTime(%d) = %q, want %q", ns, got, want)
		}
	}
}

func TestTarReader_rejectsMalformedInput(t *testing.T) {
	t.Parallel()
	good := writeTarCases(t)
	flip := func(off int) []byte {
		b := bytes.Clone(good)
		b[off] ^= 0x10
		return b
	}
	hugePAX := func() []byte {
		var b bytes.Buffer
		tw := newTarWriter(&b)
		tw.fillUSTAR(&tarHeader{typeflag: tarPAX, name: "x", size: 1 << 40})
		b.Write(tw.blk[:])
		return b.Bytes()
	}
	badRecord := func(rec string) []byte {
		var b bytes.Buffer
		tw := newTarWriter(&b)
		tw.fillUSTAR(&tarHeader{typeflag: tarPAX, name: "x", size: int64(len(rec))})
		b.Write(tw.blk[:])
		b.WriteString(rec)
		b.Write(make([]byte, padding(int64(len(rec)))))
		tw.fillUSTAR(&tarHeader{typeflag: tarReg, name: "f"})
		b.Write(tw.blk[:])
		return b.Bytes()
	}
	for name, input := range map[string][]byte{
		"truncated in a header":     good[:700],
		"truncated in content":      good[:len(good)-1500],
		"no end blocks":             good[:len(good)-2*tarBlock],
		"flipped pax record byte":   flip(tarBlock + 1), // the record length
		"flipped ustar header byte": flip(2*tarBlock + 10),
		"flipped first byte":        flip(0),
		"pax header too large":      hugePAX(),
		"pax record length zero":    badRecord("0 path=x\n"),
		"pax record length long":    badRecord("99 path=x\n"),
		"pax record without =":      badRecord("8 pathx\n"),
		"pax size negative":         badRecord("11 size=-1\n"),
		"pax path with NUL":         badRecord("10 path=\x00\n"),
		"pax record not a number":   badRecord("x path=a\n"),
		"pax record no newline end": badRecord("9 path=ab"),
	} {
		tr := newTarReader(bytes.NewReader(input))
		var err error
		for err == nil {
			if _, err = tr.next(); err == nil {
				_, err = io.Copy(io.Discard, tr)
			}
		}
		if errors.Is(err, io.EOF) {
			t.Errorf("%s: read to the end without an error", name)
		}
	}
}

// FuzzTarReader checks that no input makes the reader panic or loop.
func FuzzTarReader(f *testing.F) {
	f.Add([]byte{})
	var b bytes.Buffer
	tw := newTarWriter(&b)
	for _, h := range tarCases() {
		if err := tw.writeHeader(&h); err != nil {
			f.Fatal(err)
		}
		if h.typeflag == tarReg {
			if _, err := tw.Write(make([]byte, h.size)); err != nil {
				f.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := newTarReader(bytes.NewReader(data))
		for range 10000 {
			if _, err := tr.next(); err != nil {
				return
			}
			if _, err := io.Copy(io.Discard, tr); err != nil {
				return
			}
		}
		t.Fatal("more entries than the input can hold")
	})
}

// A file over 8 GiB does not fit ustar's size field; its size travels in a
// pax record, which both readers take.
func TestTarWriter_sizeBeyondUSTAR(t *testing.T) {
	t.Parallel()
	const size = 10 << 30
	var b bytes.Buffer
	tw := newTarWriter(&b)
	must(t, tw.writeHeader(&tarHeader{typeflag: tarReg, name: "var/lib/big.img", size: size, mode: 0o600, mtimeNS: 1e18}))
	if !bytes.Contains(b.Bytes(), []byte(" size=10737418240\n")) {
		t.Fatalf("no pax size record in %q", b.Bytes())
	}
	hdr, err := tar.NewReader(bytes.NewReader(b.Bytes())).Next()
	must(t, err)
	if hdr.Size != size {
		t.Errorf("archive/tar reads size %d, want %d", hdr.Size, size)
	}
	own, err := newTarReader(bytes.NewReader(b.Bytes())).next()
	must(t, err)
	if own.size != size {
		t.Errorf("tarReader reads size %d, want %d", own.size, size)
	}
	if err := tw.Close(); err == nil {
		t.Error("Close before the content was written succeeded")
	}
}
