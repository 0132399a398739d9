// Process figures from Linux's /proc/self (proc(5)), named as Prometheus' process collector names them.

package metrics

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// clockTicks is USER_HZ, the unit of /proc's times: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// appendProcess appends the process's families; none when /proc cannot be
// read.
func appendProcess(b []byte) []byte {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return b
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3 of proc(5), so field k is f[k-3].
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return b
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 22 {
		return b
	}
	num := func(k int) float64 {
		v, _ := strconv.ParseUint(string(f[k-3]), 10, 64)
		return float64(v)
	}
	family := func(name, help, typ string, v float64) {
		b = appendHeader(b, name, help, typ)
		b = appendSample(b, name, "", "", v)
	}
	family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter", (num(14)+num(15))/clockTicks)
	family("process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge", num(23))
	family("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", num(24)*float64(os.Getpagesize()))
	if boot := bootTime(); boot > 0 {
		family("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "gauge", boot+num(22)/clockTicks)
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		family("process_open_fds", "Number of open file descriptors.", "gauge", float64(len(fds)))
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		family("process_max_fds", "Maximum number of open file descriptors.", "gauge", float64(lim.Cur))
	}
	if syscall.Getrlimit(syscall.RLIMIT_AS, &lim) == nil {
		family("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", "gauge", float64(lim.Cur))
	}
	return b
}

// bootTime is the system's boot time in seconds since the epoch (the btime
// line of /proc/stat), or 0.
func bootTime() float64 {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	for line := range bytes.SplitSeq(stat, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			t, _ := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
			return float64(t)
		}
	}
	return 0
}
