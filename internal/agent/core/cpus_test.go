package core

import (
	"runtime"
	"testing"
)

func TestAllCPUs(t *testing.T) {
	full := runtime.GOMAXPROCS(0)
	t.Cleanup(func() {
		cpus.all, cpus.busy = 0, 0
		runtime.GOMAXPROCS(full)
	})
	if release := AllCPUs(); runtime.GOMAXPROCS(0) != full {
		t.Fatal("AllCPUs before IdleOnOneCPU changed GOMAXPROCS")
	} else {
		release()
	}
	IdleOnOneCPU()
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Fatalf("idle: GOMAXPROCS %d, want 1", n)
	}
	a, b := AllCPUs(), AllCPUs()
	if n := runtime.GOMAXPROCS(0); n != full {
		t.Fatalf("during work: GOMAXPROCS %d, want %d", n, full)
	}
	a()
	a() // a second release of the same hold does nothing
	if n := runtime.GOMAXPROCS(0); n != full {
		t.Fatalf("one of two holders left: GOMAXPROCS %d, want %d", n, full)
	}
	b()
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Fatalf("after the work: GOMAXPROCS %d, want 1", n)
	}
}
