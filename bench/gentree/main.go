// Command gentree writes the reproducible data set of bench/backup.sh, and
// times the bare directory walk the no-change backup is measured against.
//
//	gentree -out DIR [-small 100000] [-large 20] [-large-mib 30] [-seed 1]
//	gentree -walk DIR    # prints the seconds a WalkDir + Lstat of DIR takes
package main

import (
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

func main() {
	out := flag.String("out", "", "directory to create the tree in")
	walk := flag.String("walk", "", "time a WalkDir+Lstat of this directory")
	small := flag.Int("small", 100000, "number of small files")
	large := flag.Int("large", 20, "number of large files")
	largeMiB := flag.Int("large-mib", 30, "size of each large file in MiB")
	seed := flag.Uint64("seed", 1, "random seed: the same seed gives the same tree")
	flag.Parse()
	switch {
	case *walk != "":
		start := time.Now()
		n := 0
		err := filepath.WalkDir(*walk, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if _, err := os.Lstat(p); err != nil {
				return err
			}
			n++
			return nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "gentree:", err)
			os.Exit(1)
		}
		fmt.Printf("%.3f %d\n", time.Since(start).Seconds(), n)
	case *out != "":
		if err := generate(*out, *small, *large, *largeMiB, *seed); err != nil {
			fmt.Fprintln(os.Stderr, "gentree:", err)
			os.Exit(1)
		}
	default:
		flag.Usage()
		os.Exit(2)
	}
}

// words make the compressible half of the data look like text and logs.
var words = []string{"steward", "backup", "host", "GET /index.html 200", "error", "config", "value=", "2026-11-26T12:00:00Z",
	"the", "quick", "brown", "fox", "lorem", "ipsum", "dolor", "sit", "amet", "\n", "{\"level\":\"info\"}", "user=deploy"}

func fill(r *rand.Rand, b []byte, compressible bool) {
	if !compressible {
		for i := 0; i+8 <= len(b); i += 8 {
			v := r.Uint64()
			for j := 0; j < 8; j++ {
				b[i+j] = byte(v >> (8 * j))
			}
		}
		return
	}
	for i := 0; i < len(b); {
		w := words[r.IntN(len(words))]
		i += copy(b[i:], w+" ")
	}
}

func generate(dir string, small, large, largeMiB int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	buf := make([]byte, 1<<20)
	for i := 0; i < small; i++ {
		sub := filepath.Join(dir, "small", fmt.Sprintf("d%03d", i%500), fmt.Sprintf("e%02d", (i/500)%20))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		n := 256 + r.IntN(7*1024) // 256 B .. 7.25 KiB, about 3.9 KiB on average
		fill(r, buf[:n], i%2 == 0)
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%06d.dat", i)), buf[:n], 0o644); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "large"), 0o755); err != nil {
		return err
	}
	for i := 0; i < large; i++ {
		f, err := os.Create(filepath.Join(dir, "large", fmt.Sprintf("blob%02d.bin", i)))
		if err != nil {
			return err
		}
		for m := 0; m < largeMiB; m++ {
			fill(r, buf, i%2 == 0)
			if _, err := f.Write(buf); err != nil {
				_ = f.Close()
				return err
			}
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}
