package fleetsim

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat. It is 100 on every Linux
// architecture Go supports (the kernel's HZ may differ; what it exports to user space does not), and
// reading it properly would need sysconf, that is cgo.
const clockTicks = 100

// Proc is one moment of one process as /proc shows it.
type Proc struct {
	PID     int
	CPU     time.Duration // utime + stime so far
	RSS     int64         // bytes resident
	FDs     int           // open file descriptors
	Sockets int           // of which sockets
	Threads int
}

// ReadProc reads process pid from /proc.
func ReadProc(pid int) (Proc, error) {
	p := Proc{PID: pid}
	var err error
	if p.CPU, err = ProcCPU(pid); err != nil {
		return p, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, fmt.Errorf("read status of %d: %w", pid, err)
	}
	p.RSS, p.Threads = parseStatus(status)
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return p, fmt.Errorf("list fds of %d: %w", pid, err)
	}
	p.FDs = len(fds)
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasPrefix(l, "socket:") {
			p.Sockets++
		}
	}
	return p, nil
}

// ProcCPU reads the CPU time (user and system) process pid has used so far.
func ProcCPU(pid int) (time.Duration, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	return parseStatCPU(stat)
}

// parseStatCPU returns utime+stime from the content of /proc/<pid>/stat. The command name in parentheses
// may itself hold spaces and parentheses, so fields are counted from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("no ')' in %q", stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	// After the name: state(3) ... utime(14) stime(15), numbered as in proc(5).
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the name", len(f))
	}
	ut, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime: %w", err)
	}
	st, err := strconv.ParseInt(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime: %w", err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// parseStatus returns VmRSS (bytes) and Threads from the content of /proc/<pid>/status.
func parseStatus(status []byte) (rss int64, threads int) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = n * 1024 // kB
		case "Threads":
			threads = int(n)
		}
	}
	return rss, threads
}

// Snapshot is every watched process at one moment.
type Snapshot struct {
	At    time.Time
	Procs map[string]Proc // by name
}

// Take reads every process of pids (name → pid). A process that cannot be read (it exited) is left out
// and named in the error, which does not stop the others from being read.
func Take(pids map[string]int) (Snapshot, error) {
	s := Snapshot{At: time.Now(), Procs: map[string]Proc{}}
	var missing []string
	for name, pid := range pids {
		p, err := ReadProc(pid)
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		s.Procs[name] = p
	}
	if len(missing) > 0 {
		return s, fmt.Errorf("processes not read: %s", strings.Join(missing, "; "))
	}
	return s, nil
}

// Usage is what the processes used between two snapshots.
type Usage struct {
	Wall  time.Duration
	Cores map[string]float64 // CPU time over wall time, per process
	// Totals over the processes.
	TotalCores float64
	TotalRSS   int64 // at the later snapshot
	TotalFDs   int
}

// Between computes the use of the processes present in both snapshots.
func Between(a, b Snapshot) Usage {
	u := Usage{Wall: b.At.Sub(a.At), Cores: map[string]float64{}}
	for name, pb := range b.Procs {
		pa, ok := a.Procs[name]
		if !ok || pa.PID != pb.PID {
			continue // restarted in between: its CPU time started again
		}
		c := float64(pb.CPU-pa.CPU) / float64(u.Wall)
		u.Cores[name] = c
		u.TotalCores += c
		u.TotalRSS += pb.RSS
		u.TotalFDs += pb.FDs
	}
	return u
}

// LoadAvg returns the 1-minute load average.
func LoadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
