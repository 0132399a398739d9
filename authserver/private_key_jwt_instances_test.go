package authserver_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/mcpauth/mcpauth/authserver"
)

// TestAssertionReplayAcrossInstances: two instances on one store (a PostgreSQL database; a
// SQLite file) accept a private_key_jwt client assertion once between them (RFC 7523 §3 item
// 7): accepted at A, the same assertion is invalid_client at B and at A; of one fresh assertion
// sent 16 times at once to both, exactly one request gets a token.
func TestAssertionReplayAcrossInstances(t *testing.T) {
	for _, backend := range sharedStores {
		t.Run(backend.name, func(t *testing.T) {
			a, b := twoInstancesOn(t, backend.open(t), nil)
			key := newClientKey(t)
			info, _, err := a.Admin().AddClient(t.Context(), authserver.StaticClient{
				Name: "signed backend", JWKS: key.jwks(t), GrantTypes: []string{"client_credentials"},
			})
			if err != nil {
				t.Fatal(err)
			}
			assertion := key.assertion(t, info.ID, a.URL, nil)
			if status, body := tokenRequest(t, a, assertionForm(assertion)); status != http.StatusOK {
				t.Fatalf("first use at A: %d %v", status, body)
			}
			for _, as := range []*testAS{b, a} {
				status, body := tokenRequest(t, as, assertionForm(assertion))
				wantOAuthError(t, "replay at "+as.URL, status, body, http.StatusUnauthorized, "invalid_client")
			}
			if n := len(b.Audit.records("client_auth.replay")); n != 1 {
				t.Fatalf("B audited %d replays, want 1", n)
			}

			fresh := assertionForm(key.assertion(t, info.ID, a.URL, nil)).Encode()
			statuses := make([]int, 16)
			var wg sync.WaitGroup
			for i := range statuses {
				wg.Go(func() {
					as := []*testAS{a, b}[i%2]
					resp, err := http.Post(as.URL+"/token", "application/x-www-form-urlencoded", strings.NewReader(fresh))
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					statuses[i] = resp.StatusCode
				})
			}
			wg.Wait()
			ok := 0
			for _, st := range statuses {
				switch st {
				case http.StatusOK:
					ok++
				case http.StatusUnauthorized:
				default:
					t.Fatalf("concurrent uses: status %d", st)
				}
			}
			if ok != 1 {
				t.Fatalf("%d of %d concurrent uses of one assertion got a token, want 1: %v", ok, len(statuses), statuses)
			}
		})
	}
}
