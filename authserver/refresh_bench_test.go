package authserver_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth/internal/cputime"
)

// BenchmarkRefreshParallel: refreshes of 32 token chains at once, as bench/run.sh's 32
// connections send them (or the next multiple of GOMAXPROCS), through the token endpoint's
// handler in-process, so that the store's group commit shares commits between them as it does
// in mcpauth serve. Run it with -cpu 1 for the server of bench/run.sh, pinned to one core.
// Besides the time per refresh it reports the process's CPU per refresh (cpu-µs/op: user and
// system time, without the time spent waiting for fsync).
func BenchmarkRefreshParallel(b *testing.B) {
	s, h := benchAS(b)
	par := max(1, 32/runtime.GOMAXPROCS(0))
	chains := make(chan string, par*runtime.GOMAXPROCS(0))
	chains <- codeFlowRefreshToken(b, s, h)
	for len(chains) < cap(chains) {
		chains <- codeFlow(b, h)
	}
	cpu0 := cputime.Process(b)
	b.ResetTimer()
	b.SetParallelism(par)
	b.RunParallel(func(pb *testing.PB) {
		rt := <-chains
		for pb.Next() {
			// Not postBench, which stops the benchmark from this goroutine on a failure.
			req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(
				url.Values{"grant_type": {"refresh_token"}, "client_id": {"bench"}, "refresh_token": {rt}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var tok struct {
				RefreshToken string `json:"refresh_token"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &tok); rec.Code != http.StatusOK || err != nil || tok.RefreshToken == "" {
				b.Errorf("refresh: %d %s", rec.Code, rec.Body)
				return
			}
			rt = tok.RefreshToken
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((cputime.Process(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}
