package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// rssSampler follows the peak memory of a process group (the tool and,
// for the shell loop, every crane and jq it starts) by reading /proc every
// 20 ms. ru_maxrss from wait4 cannot be used: Go starts children with
// vfork semantics, and the kernel folds the parent's resident set (the
// benchmark process, registry included) into the child's ru_maxrss at
// exec.
type rssSampler struct {
	pgid int
	stop chan struct{}
	wg   sync.WaitGroup

	mu sync.Mutex
	// peakProc is the largest VmHWM of any one process of the group, KiB.
	peakProc int64
	// peakTree is the largest sum of VmRSS over the group at one sample, KiB.
	peakTree int64
	hwm      map[int]int64
	procs    int // distinct processes seen
}

func startRSS(pgid int) *rssSampler {
	s := &rssSampler{pgid: pgid, stop: make(chan struct{}), hwm: map[int]int64{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends the sampling; it returns the peaks in KiB and the number of
// processes seen.
func (s *rssSampler) Stop() (peakProc, peakTree int64, procs int) {
	close(s.stop)
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakProc, s.peakTree, s.procs
}

func (s *rssSampler) sample() {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	var tree int64
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces or parens.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 3 {
			continue
		}
		if pg, _ := strconv.Atoi(f[2]); pg != s.pgid {
			continue
		}
		status, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		hwm, rss := statusKiB(status, "VmHWM:"), statusKiB(status, "VmRSS:")
		tree += rss
		s.mu.Lock()
		if _, seen := s.hwm[pid]; !seen {
			s.procs++
		}
		if hwm > s.hwm[pid] {
			s.hwm[pid] = hwm
		}
		if hwm > s.peakProc {
			s.peakProc = hwm
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	if tree > s.peakTree {
		s.peakTree = tree
	}
	s.mu.Unlock()
}

func statusKiB(status []byte, key string) int64 {
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}
