package load

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth/bench/harness"
)

// testLoadMix runs the fleet against mcpauth serve for the load duration: every request must
// succeed (zero 5xx, zero errors of any kind), every operation of the mix must have run, and no
// acknowledged write may be lost. Latencies are logged per operation.
func testLoadMix(t *testing.T, storeKind string) {
	s := startServer(t, storeKind)
	const workers = 32
	f := newFleet(s.as(t, workers), workers)
	res := harness.Run(context.Background(), workers, loadDuration(t), f.ops(), f.mix)
	t.Logf("mcpauth serve on %s, %d workers, %v:\n%s", storeKind, workers, res.Elapsed.Round(1e6), res)
	count, errs, status5xx := res.Total()
	if errs > 0 || status5xx > 0 {
		t.Errorf("%d operations failed (%d with 5xx):\n%s\nserver warnings and errors:\n%s", errs, status5xx, res,
			strings.Join(warnings.FindAllString(s.Output(), -1), "\n"))
	}
	for name, st := range res.Ops {
		if st.Count == 0 {
			t.Errorf("operation %s never completed", name)
		}
	}
	if count == 0 {
		t.Fatal("nothing ran")
	}
	f.verify(t)
}

// warnings matches the server's log lines of level WARN and ERROR.
var warnings = regexp.MustCompile(`(?m)^.*level=(WARN|ERROR).*$`)

func TestLoadMixSQLite(t *testing.T)   { testLoadMix(t, "sqlite") }
func TestLoadMixPostgres(t *testing.T) { testLoadMix(t, "postgres") }
