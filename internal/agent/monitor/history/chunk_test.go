package history

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// chunkCase is a series of cells to encode: slot → columns.
type chunkCase struct {
	name  string
	cols  int
	slots int
	cells map[int][]float64
}

func genChunkCases() []chunkCase {
	rng := rand.New(rand.NewPCG(1, 2))
	var cases []chunkCase
	mk := func(name string, cols, slots int, f func(slot int) ([]float64, bool)) {
		c := chunkCase{name: fmt.Sprintf("%s/%d columns", name, cols), cols: cols, slots: slots, cells: map[int][]float64{}}
		for i := 0; i < slots; i++ {
			if v, ok := f(i); ok {
				c.cells[i] = v
			}
		}
		cases = append(cases, c)
	}
	for _, cols := range []int{1, rollupCols} {
		vec := func(f func(c int) float64) []float64 {
			v := make([]float64, cols)
			for c := range v {
				v[c] = f(c)
			}
			return v
		}
		mk("constant", cols, 360, func(int) ([]float64, bool) { return vec(func(int) float64 { return 42 }), true })
		mk("counter", cols, 360, func(i int) ([]float64, bool) {
			return vec(func(c int) float64 { return float64(1e9 + i*1234 + c) }), true
		})
		mk("cycle", cols, 1440, func(i int) ([]float64, bool) {
			return vec(func(c int) float64 { return float64((i + c) % 7) }), true
		})
		mk("random floats", cols, 360, func(int) ([]float64, bool) {
			return vec(func(int) float64 { return rng.NormFloat64() * 1e6 }), true
		})
		mk("random bits", cols, 384, func(int) ([]float64, bool) {
			return vec(func(int) float64 { return math.Float64frombits(rng.Uint64()) }), true
		})
		mk("gaps", cols, 360, func(i int) ([]float64, bool) {
			return vec(func(int) float64 { return float64(i) / 3 }), rng.IntN(3) == 0
		})
		mk("specials", cols, 8, func(i int) ([]float64, bool) {
			sp := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), math.MaxFloat64, math.SmallestNonzeroFloat64, -1}
			return vec(func(c int) float64 { return sp[(i+c)%len(sp)] }), true
		})
		mk("empty", cols, 100, func(int) ([]float64, bool) { return nil, false })
		mk("last slot only", cols, 100, func(i int) ([]float64, bool) { return vec(func(int) float64 { return 7 }), i == 99 })
	}
	return cases
}

func encodeCase(c chunkCase) []byte {
	e := newChunkEncoder(c.cols)
	for i := 0; i < c.slots; i++ {
		if v, ok := c.cells[i]; ok {
			e.append(i, v)
		}
	}
	return e.bytes()
}

func TestChunk_roundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range genChunkCases() {
		t.Run(c.name, func(t *testing.T) {
			b := encodeCase(c)
			it := newChunkIter(b, c.cols, c.slots)
			n := 0
			for it.next() {
				want, ok := c.cells[it.slot]
				if !ok {
					t.Fatalf("slot %d decoded, but was empty", it.slot)
				}
				for col := 0; col < c.cols; col++ {
					if math.Float64bits(it.vals[col]) != math.Float64bits(want[col]) {
						t.Fatalf("slot %d column %d = %v, want %v", it.slot, col, it.vals[col], want[col])
					}
				}
				n++
			}
			if it.err != nil {
				t.Fatal(it.err)
			}
			if n != len(c.cells) {
				t.Fatalf("decoded %d cells, want %d", n, len(c.cells))
			}
			if bound := (c.slots*maxCellBits(c.cols) + 7) / 8; len(b) > bound {
				t.Errorf("chunk of %d bytes, over the worst-case bound %d", len(b), bound)
			}
		})
	}
}

// A chunk cut short decodes to a prefix of its cells or reports an error;
// never to a wrong value. (Checksums stop damaged chunks before decoding;
// this guards the decoder itself against reading past its input.)
func TestChunk_truncated(t *testing.T) {
	t.Parallel()
	for _, c := range genChunkCases() {
		b := encodeCase(c)
		for cut := 0; cut < len(b); cut += 1 + cut/64 { // every byte of the first cells, then sparser
			it := newChunkIter(b[:cut], c.cols, c.slots)
			for it.next() {
				want := c.cells[it.slot]
				for col := 0; col < c.cols; col++ {
					if math.Float64bits(it.vals[col]) != math.Float64bits(want[col]) {
						t.Fatalf("%s cut at %d: slot %d column %d = %v, want %v", c.name, cut, it.slot, col, it.vals[col], want[col])
					}
				}
			}
		}
	}
}
