package main

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
)

// executableRSS is the resident kB of this process's code mapping of its
// executable, from /proc/self/smaps.
func executableRSS(t *testing.T) int {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	total, inExe := 0, false
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			inExe = len(f) >= 6 && f[5] == exe && f[1] == "r-xp"
		case inExe && len(f) == 3 && f[0] == "Rss:":
			kb, _ := strconv.Atoi(f[1])
			total += kb
		}
	}
	return total
}

func TestReleaseStartupPages(t *testing.T) {
	before := executableRSS(t)
	if err := releaseStartupPages(); err != nil {
		t.Fatal(err)
	}
	after := executableRSS(t)
	// Running code again maps its pages again: the whole command tree
	// builds and runs after the release.
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"--version"})
	if err := root.Execute(); err != nil || !strings.Contains(out.String(), version) {
		t.Fatalf("after the release: %v %q", err, out.String())
	}
	again := executableRSS(t)
	t.Logf("resident kB of the executable's code: %d before, %d after the release, %d after running the command tree", before, after, again)
	if before == 0 || after > before/2 {
		t.Errorf("resident kB %d before the release, %d after: want at most half", before, after)
	}
	if again <= after {
		t.Errorf("running code after the release did not map its pages again (%d, then %d kB)", after, again)
	}
}
