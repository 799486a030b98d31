package core

import (
	"runtime"
	"sync"
)

// The daemon idles on one CPU: its steady work (a collection every
// interval, the rules after it, a scrape) is light, and each further P
// costs it memory (its own caches of heap spans, its GC worker) for
// nothing. Work that wants every CPU, a scheduled backup, takes them for
// its duration (AllCPUs).
var cpus struct {
	sync.Mutex
	all  int // GOMAXPROCS for work; 0 until IdleOnOneCPU
	busy int // AllCPUs holders
}

// IdleOnOneCPU makes this process run on one CPU except while AllCPUs is
// held. The daemon calls it unless GOMAXPROCS is set.
func IdleOnOneCPU() {
	cpus.Lock()
	defer cpus.Unlock()
	if cpus.all == 0 {
		cpus.all = runtime.GOMAXPROCS(0)
	}
	if cpus.busy == 0 {
		runtime.GOMAXPROCS(1)
	}
}

// AllCPUs gives this process its full GOMAXPROCS until release is called
// (once per call; further calls do nothing).
func AllCPUs() (release func()) {
	cpus.Lock()
	defer cpus.Unlock()
	if cpus.all == 0 {
		return func() {}
	}
	if cpus.busy == 0 {
		runtime.GOMAXPROCS(cpus.all)
	}
	cpus.busy++
	var once sync.Once
	return func() {
		once.Do(func() {
			cpus.Lock()
			defer cpus.Unlock()
			if cpus.busy--; cpus.busy == 0 {
				runtime.GOMAXPROCS(1)
			}
		})
	}
}
