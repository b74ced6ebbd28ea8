// suite.go - the Go twin of reel-bench's headline comparison and of its
// "many tasks from a fresh process" workload.
//
// reel-bench (bench/suite/suite_go.c, bench/suite/fresh.c) runs this program
// once per measurement, as a fresh process, with GOMAXPROCS in its
// environment, and takes its CPU time and peak RSS from wait4; the program
// measures its own wall time around the jobs (not the runtime's start-up, as
// the C fibers' time leaves out reel_run's) and prints one line:
//
//	ok WALL_NS      or      err REASON
//
// The jobs are those of bench/suite/workload.c, with the same sizes:
//
//	timer  sleep wait_ns (time.Sleep)
//	tcp    connect to the suite's loopback delay server, send the delay
//	       (8 bytes, little-endian ns), read the same 8 bytes back after
//	       it, close with SO_LINGER 0 (no TIME_WAIT, as the C clients)
//	cpu    ROUNDS rounds of splitmix64's finaliser, chained (suite_hash),
//	       ROUNDS calibrated here to about 10 ms ("calibrate")
//
// run two ways: a goroutine per job joined with a sync.WaitGroup, and a
// worker pool of POOL goroutines taking job numbers from a shared counter
// (the C thread pool's twin).
//
// Commands:
//
//	suite_go calibrate NS                 prints "GOVERSION ROUNDS"
//	suite_go cell WORKLOAD MODEL JOBS PORT WAIT_NS ROUNDS POOL
//	suite_go fresh MODE TASKS SEED        MODE: wait10ms | due1s
//
// Standard library only, built with GO111MODULE=off (bench/bench.cmake): no
// module to download, so it builds offline on a fresh machine.
package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// hash is suite_hash of bench/suite/workload.c: each round depends on the
// last, so it can be neither vectorised nor skipped.
func hash(seed, rounds uint64) uint64 {
	h := seed
	for r := uint64(0); r < rounds; r++ {
		h += 0x9e3779b97f4a7c15
		h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9
		h = (h ^ (h >> 27)) * 0x94d049bb133111eb
		h ^= h >> 31
	}
	return h
}

// sink keeps the hashes alive.
var sink uint64

// splitmix is bench_rand of bench/common/bench.h: the same seed gives the
// same due times in every runtime.
func splitmix(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	z := *state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

type env struct {
	workload string
	port     int
	wait     time.Duration
	rounds   uint64
}

func tcpJob(e *env) error {
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(e.port))
	if err != nil {
		return err
	}
	tc := c.(*net.TCPConn)
	defer tc.Close()
	tc.SetLinger(0)
	var req, rep [8]byte
	binary.LittleEndian.PutUint64(req[:], uint64(e.wait))
	if _, err = tc.Write(req[:]); err != nil {
		return err
	}
	if _, err = io.ReadFull(tc, rep[:]); err != nil {
		return err
	}
	if rep != req {
		return fmt.Errorf("bad reply")
	}
	return nil
}

func job(e *env, i int) error {
	switch e.workload {
	case "timer":
		time.Sleep(e.wait)
	case "tcp":
		return tcpJob(e)
	case "cpu":
		atomic.AddUint64(&sink, hash(uint64(i), e.rounds))
	default:
		return fmt.Errorf("unknown workload %s", e.workload)
	}
	return nil
}

// firstErr keeps the first failure of many goroutines.
type firstErr struct {
	once sync.Once
	err  error
}

func (f *firstErr) set(err error) {
	if err != nil {
		f.once.Do(func() { f.err = err })
	}
}

func perJob(e *env, n int) error {
	var wg sync.WaitGroup
	var fe firstErr
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			defer wg.Done()
			fe.set(job(e, i))
		}(i)
	}
	wg.Wait()
	return fe.err
}

func pool(e *env, n, size int) error {
	var wg sync.WaitGroup
	var fe firstErr
	var next int64
	wg.Add(size)
	for w := 0; w < size; w++ {
		go func() {
			defer wg.Done()
			for {
				i := int(atomic.AddInt64(&next, 1) - 1)
				if i >= n {
					return
				}
				if err := job(e, i); err != nil {
					fe.set(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return fe.err
}

// fresh starts n goroutines from this fresh process, each sleeping 10 ms
// (wait10ms) or until its due time t0 + d, d uniform in [0, 1 s) (due1s),
// and waits for all of them. The wall time runs from main's start: the
// spawning is part of it.
func fresh(t0 time.Time, mode string, n int, seed uint64) error {
	var wg sync.WaitGroup
	wg.Add(n)
	switch mode {
	case "wait10ms":
		for i := 0; i < n; i++ {
			go func() {
				time.Sleep(10 * time.Millisecond)
				wg.Done()
			}()
		}
	case "due1s":
		for i := 0; i < n; i++ {
			d := time.Duration(splitmix(&seed) % 1000000000)
			go func(due time.Time) {
				time.Sleep(time.Until(due))
				wg.Done()
			}(t0.Add(d))
		}
	default:
		return fmt.Errorf("unknown mode %s", mode)
	}
	wg.Wait()
	return nil
}

func calibrate(ns uint64) uint64 {
	const probe = 1 << 20
	best := time.Duration(1<<63 - 1)
	for i := 0; i < 3; i++ {
		t0 := time.Now()
		atomic.AddUint64(&sink, hash(uint64(i), probe))
		if t := time.Since(t0); t < best {
			best = t
		}
	}
	if best <= 0 {
		return probe
	}
	return uint64(float64(probe) * float64(ns) / float64(best.Nanoseconds()))
}

func num(s string) uint64 {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		fmt.Printf("err bad number '%s'\n", s)
		os.Exit(2)
	}
	return v
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: suite_go calibrate NS | "+
		"cell WORKLOAD MODEL JOBS PORT WAIT_NS ROUNDS POOL | fresh MODE TASKS SEED")
	os.Exit(2)
}

func main() {
	t0 := time.Now()
	a := os.Args
	if len(a) < 2 {
		usage()
	}
	var err error
	switch {
	case a[1] == "calibrate" && len(a) == 3:
		fmt.Printf("%s %d\n", runtime.Version(), calibrate(num(a[2])))
		return
	case a[1] == "fresh" && len(a) == 5:
		err = fresh(t0, a[2], int(num(a[3])), num(a[4]))
	case a[1] == "cell" && len(a) == 9:
		e := &env{workload: a[2], port: int(num(a[5])),
			wait: time.Duration(num(a[6])), rounds: num(a[7])}
		n, size := int(num(a[4])), int(num(a[8]))
		t0 = time.Now()
		switch a[3] {
		case "goroutines":
			err = perJob(e, n)
		case "worker-pool":
			err = pool(e, n, size)
		default:
			err = fmt.Errorf("unknown model %s", a[3])
		}
	default:
		usage()
	}
	wall := time.Since(t0)
	if err != nil {
		fmt.Printf("err %.100s\n", err.Error())
		os.Exit(1)
	}
	fmt.Printf("ok %d\n", wall.Nanoseconds())
}
