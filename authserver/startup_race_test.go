package authserver_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
)

// TestInstancesStartingTogetherShareFirstKeyAndDevUser: two instances started at the same moment
// on one empty database (two handles on one SQLite file) both start — the dev login user is made
// once — and both make and publish the same single first signing key, so a token signed by one
// verifies against the other's JWKS.
func TestInstancesStartingTogetherShareFirstKeyAndDevUser(t *testing.T) {
	for round := range 5 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("as%d.db", round))
		servers := make([]*authserver.Server, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		key := testKey() // both instances share the key encryption key, as they must
		for i := range servers {
			st, err := sqlite.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			cfg := authserver.Config{
				Issuer: "http://127.0.0.1:8080", ListenAddr: "127.0.0.1:8080",
				Store: st, KeyEncryptionKey: key, DevLoginUser: "dev",
				Resources:   []authserver.Resource{{URI: resourceA, Scopes: []string{"weather:read"}}},
				Logger:      slog.New(slog.DiscardHandler),
				DisableCIMD: true,
			}
			wg.Go(func() {
				<-start
				servers[i], errs[i] = authserver.New(t.Context(), cfg)
			})
		}
		close(start)
		wg.Wait()
		var kids [2][]string
		for i, s := range servers {
			if errs[i] != nil {
				t.Fatalf("round %d: instance %d did not start: %v", round, i, errs[i])
			}
			t.Cleanup(func() { s.Close() })
			rec := httptestGet(s.Handler(), "/jwks")
			if rec.Code != http.StatusOK {
				t.Fatalf("round %d: jwks of instance %d: %d", round, i, rec.Code)
			}
			var set struct {
				Keys []struct {
					Kid string `json:"kid"`
				} `json:"keys"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
				t.Fatal(err)
			}
			for _, k := range set.Keys {
				kids[i] = append(kids[i], k.Kid)
			}
		}
		if len(kids[0]) != 1 || fmt.Sprint(kids[0]) != fmt.Sprint(kids[1]) {
			t.Fatalf("round %d: instances publish different key sets: %v and %v", round, kids[0], kids[1])
		}
	}
}
