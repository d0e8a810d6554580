//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// serverProc is a running subprocess: a server, or a hold client.
type serverProc struct {
	mode  string
	cmd   *exec.Cmd
	stdin io.WriteCloser // closing it makes the server exit
	addr  string         // host:port
	http  *http.Client
	done  chan struct{} // closed when the process has exited
	once  sync.Once
}

// live holds the servers not yet stopped, so that every exit path kills them.
var live struct {
	sync.Mutex
	procs map[*serverProc]bool
}

// startServer starts this binary in server mode (pinned to cfg.ServerCPU
// with taskset when cfg.Pin) and waits for its address. cpuProfile and
// memProfile, if not empty, are the files of its profiles.
func startServer(ctx context.Context, cfg config, mode, cpuProfile, memProfile string) (*serverProc, error) {
	args := []string{"-serve", mode, "-listen", "127.0.0.1:0"}
	if cpuProfile != "" {
		args = append(args, "-cpuprofile", cpuProfile)
	}
	if memProfile != "" {
		args = append(args, "-memprofile", memProfile)
	}
	cpu := -1
	if cfg.Pin {
		cpu = cfg.ServerCPU
	}
	s, lines, err := spawn(mode, cpu, args)
	if err != nil {
		return nil, err
	}
	addrc := make(chan string, 1)
	go func() {
		for l := range lines {
			if a, ok := strings.CutPrefix(l, "ADDR "); ok {
				select {
				case addrc <- a:
				default:
				}
			}
		}
	}()
	select {
	case s.addr = <-addrc:
		return s, nil
	case <-s.done:
		err = errors.New("server exited before printing its address")
	case <-time.After(20 * time.Second):
		err = errors.New("server printed no address within 20s")
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.stop()
	return nil, err
}

// spawn starts this binary with args (pinned to cpu with taskset when cpu ≥
// 0 and taskset is installed), with a parent-death signal and its stdin a
// pipe whose EOF tells it to exit, and registers it in live. The channel
// carries its stdout's lines (buffered; lines that find it full are
// dropped) and is closed at EOF.
func spawn(name string, cpu int, args []string) (*serverProc, <-chan string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	prog := exe
	if ts := tasksetPath(); cpu >= 0 && ts != "" {
		prog, args = ts, append([]string{"-c", strconv.Itoa(cpu), exe}, args...)
	}
	cmd := exec.Command(prog, args...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	s := &serverProc{mode: name, cmd: cmd, stdin: stdin, done: make(chan struct{}),
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil}}}
	live.Lock()
	if live.procs == nil {
		live.procs = map[*serverProc]bool{}
	}
	live.procs[s] = true
	live.Unlock()
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { _ = cmd.Wait(); close(s.done) }()
	return s, lines, nil
}

// stop ends the server: EOF on its stdin, then SIGKILL after 5 s.
func (s *serverProc) stop() {
	s.once.Do(func() {
		_ = s.stdin.Close()
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		s.http.CloseIdleConnections()
		live.Lock()
		delete(live.procs, s)
		live.Unlock()
	})
}

// killAllServers kills every server still running.
func killAllServers() {
	live.Lock()
	defer live.Unlock()
	for s := range live.procs {
		_ = s.cmd.Process.Kill()
	}
}

// serverStats is what a server's /_stats endpoint answers.
type serverStats struct {
	HeapObjects uint64 `json:"heap_objects"` // /memory/classes/heap/objects:bytes
	Stacks      uint64 `json:"stacks"`       // /memory/classes/heap/stacks:bytes
	Goroutines  uint64 `json:"goroutines"`   // /sched/goroutines:goroutines
	Conns       int64  `json:"conns"`        // open connections (Router.Len for routed)
}

// stats asks the server for its stats; gc forces a collection first.
func (s *serverProc) stats(ctx context.Context, gc bool) (serverStats, error) {
	var st serverStats
	url := "http://" + s.addr + "/_stats"
	if gc {
		url += "?gc=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return st, err
	}
	res, err := s.http.Do(req)
	if err != nil {
		return st, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return st, fmt.Errorf("/_stats: %s", res.Status)
	}
	return st, json.NewDecoder(res.Body).Decode(&st)
}

// cpuTime returns the CPU time the server has used so far: the sum of the
// first field (ns on CPU) of /proc/PID/task/*/schedstat, or utime+stime of
// /proc/PID/stat (10 ms resolution) when schedstat is missing.
func (s *serverProc) cpuTime() (time.Duration, error) {
	return processCPU(s.cmd.Process.Pid)
}

// processCPU returns the CPU time process pid has used (see cpuTime).
func processCPU(pid int) (time.Duration, error) {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var total int64
	n := 0
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread exited meanwhile
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		total += ns
		n++
	}
	if n > 0 {
		return time.Duration(total), nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command (which may hold spaces) in parentheses:
	// utime and stime are fields 14 and 15, i.e. 12 and 13 after ')'.
	rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, errors.New("short /proc/PID/stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // sysconf(_SC_CLK_TCK) on Linux
	return time.Duration((ut + st) * int64(time.Second) / clkTck), nil
}

// tasksetOnce looks taskset up once.
var tasksetOnce = sync.OnceValue(func() string {
	p, _ := exec.LookPath("taskset")
	return p
})

// tasksetPath returns the path of taskset, or "" when it is not installed.
func tasksetPath() string { return tasksetOnce() }

// pinSelf pins every thread of this process to cpu with
// sched_setaffinity (threads created later inherit it) and sets GOMAXPROCS
// to 1.
func pinSelf(cpu int) error {
	if runtime.NumCPU() < 2 {
		return fmt.Errorf("only %d CPU", runtime.NumCPU())
	}
	if cpu < 0 || cpu >= 64 {
		return fmt.Errorf("cpu %d out of range", cpu)
	}
	mask := uint64(1) << cpu
	for range 2 { // again, for threads started during the first pass
		tids, err := filepath.Glob("/proc/self/task/*")
		if err != nil {
			return err
		}
		for _, t := range tids {
			tid, err := strconv.Atoi(filepath.Base(t))
			if err != nil {
				continue
			}
			_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask)))
			if errno != 0 && errno != syscall.ESRCH {
				return fmt.Errorf("sched_setaffinity(%d): %w", tid, errno)
			}
		}
	}
	runtime.GOMAXPROCS(1)
	return nil
}
