// xloop.go - the Go twin of reel-bench's cross-loop round trip
// (bench/xloop/xloop.c): two goroutines ping-pong a value over two
// unbuffered channels, GOMAXPROCS=2, so that each send hands the value to
// a goroutine that may be running on, or parked for, the other P.
//
// reel-bench runs this program once per measurement, as a fresh process
// with GOMAXPROCS=2 in its environment, and reads one line:
//
//	ok ELAPSED_NS      or      err REASON
//
// where ELAPSED_NS is the wall time of N round trips after a warm-up (the
// runtime's start-up and the warm-up are left out, as the C side leaves
// out starting its loops).
//
// Usage:
//
//	xloop_go MODE N [CPU0 CPU1]    MODE: idle | busy | stream
//
// idle: nothing else runs, so between messages the other side parks and
// its P may go to sleep in the kernel. busy: each P also has a goroutine
// that calls runtime.Gosched() in a loop until the measurement ends (the
// twin of reel's busy fiber that yields in a loop), so no P ever sleeps.
// With CPU0 and CPU1, the two ping-pong goroutines are locked to their OS
// threads (runtime.LockOSThread) and those threads pinned to the two CPUs
// (sched_setaffinity): every message then crosses cores, as between two
// reel loops. Without them Go's scheduler is free to run both on one P,
// which it does (the receiver is put in the sender's runnext slot), so the
// unpinned figure is mostly a goroutine switch on one thread.
// stream: one goroutine sends N values over a channel of 256 slots, another
// receives them (the one-way throughput's baseline); ELAPSED_NS from the
// first send to the last receive.
//
// Standard library only, built with GO111MODULE=off (bench/bench.cmake).
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// pin locks the calling goroutine to its thread and the thread to @cpu
// (-1: neither).
func pin(cpu int) {
	if cpu < 0 {
		return
	}
	runtime.LockOSThread()
	var mask [16]uint64
	mask[cpu/64] |= 1 << (uint(cpu) % 64)
	syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, uintptr(len(mask)*8),
		uintptr(unsafe.Pointer(&mask[0])))
}

const warmup = 100 // as the C side: a pinned busy round trip takes ~0.5 ms

func pingpong(n int, ping, pong chan int) time.Duration {
	for i := 0; i < warmup; i++ {
		ping <- i
		<-pong
	}
	t0 := time.Now()
	for i := 0; i < n; i++ {
		ping <- i
		<-pong
	}
	return time.Since(t0)
}

func stream(n int) time.Duration {
	c := make(chan int, 256)
	done := make(chan struct{})
	go func() {
		for range c {
		}
		close(done)
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		c <- i
	}
	close(c)
	<-done
	return time.Since(t0)
}

func main() {
	mode := ""
	cpus := [2]int{-1, -1}
	if len(os.Args) == 3 || len(os.Args) == 5 {
		mode = os.Args[1]
	}
	if len(os.Args) == 5 {
		for i := range cpus {
			c, err := strconv.Atoi(os.Args[3+i])
			if err != nil || c < 0 || c >= 1024 {
				mode = ""
			}
			cpus[i] = c
		}
	}
	if mode != "idle" && mode != "busy" && mode != "stream" {
		fmt.Println("err usage: xloop_go idle|busy|stream N [CPU0 CPU1]")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n < 1 {
		fmt.Println("err N must be a positive number")
		os.Exit(2)
	}
	if mode == "stream" {
		fmt.Printf("ok %d\n", stream(n).Nanoseconds())
		return
	}
	var stop int32
	if mode == "busy" {
		for i := 0; i < runtime.GOMAXPROCS(0); i++ {
			go func() {
				for atomic.LoadInt32(&stop) == 0 {
					runtime.Gosched()
				}
			}()
		}
	}
	ping, pong := make(chan int), make(chan int)
	go func() {
		pin(cpus[1])
		for v := range ping {
			pong <- v
		}
	}()
	pin(cpus[0])
	elapsed := pingpong(n, ping, pong)
	atomic.StoreInt32(&stop, 1)
	close(ping)
	fmt.Printf("ok %d\n", elapsed.Nanoseconds())
}
