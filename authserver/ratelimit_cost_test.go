package authserver_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/authserver/store"
)

// rateCalls notes the calls of the shared rate limits to the store.
type rateCalls struct {
	store.Store
	callLog
}

func (c *rateCalls) CountRate(ctx context.Context, key string, now time.Time, l store.RateLimit, n int) (store.RateCount, bool, error) {
	c.note("count")
	return c.Store.CountRate(ctx, key, now, l, n)
}

func (c *rateCalls) GetRateCounts(ctx context.Context, keys []string) ([]*store.RateCount, error) {
	c.note("get")
	return c.Store.GetRateCounts(ctx, keys)
}

func (c *rateCalls) ExtendRateCount(ctx context.Context, key string, until time.Time) error {
	c.note("mark")
	return c.Store.ExtendRateCount(ctx, key, until)
}

func (c *rateCalls) DeleteRateCounts(ctx context.Context, keys []string) error {
	c.note("unmark")
	return c.Store.DeleteRateCounts(ctx, keys)
}

// TestClientAuthCostOfSuccess: the client-authentication budgets cost a successful
// client_credentials or refresh request nothing in the store once its client has succeeded from
// its address at this instance: the first request of a client from an address reads its budgets
// and writes the address's mark; a failure counts in the store (and ends the mark); the next
// request, from an address no longer known, reads again.
func TestClientAuthCostOfSuccess(t *testing.T) {
	spy := &rateCalls{Store: openSQLite(t)}
	as := newTestASOn(t, spy, testKey(), func(c *authserver.Config) { c.DevLoginUser = "dev" })
	id, secret := backend(t, as, "backend")
	for i, tc := range []struct {
		secret string
		status int
		want   []string
	}{
		{secret, http.StatusOK, []string{"get", "mark"}},
		{secret, http.StatusOK, nil},
		{secret, http.StatusOK, nil},
		{"guess", http.StatusUnauthorized, []string{"unmark", "count", "count"}},
		{secret, http.StatusOK, []string{"get", "mark"}},
		{secret, http.StatusOK, nil},
	} {
		spy.take()
		if resp, body := endpointPost(t, as.URL+"/token", ccForm, id, tc.secret, ""); resp.StatusCode != tc.status {
			t.Fatalf("request %d: %d %v", i+1, resp.StatusCode, body)
		}
		if got := spy.take(); !slices.Equal(got, tc.want) {
			t.Fatalf("request %d (status %d): rate store calls %v, want %v", i+1, tc.status, got, tc.want)
		}
	}

	client := publicClient(t, as)
	spy.take()
	refresh := tokens(t, as, client)["refresh_token"].(string)
	if got := spy.take(); !slices.Equal(got, []string{"get", "mark"}) {
		t.Fatalf("the code exchange, first request of its client: rate store calls %v", got)
	}
	for i := range 3 {
		status, tok := tokenRequest(t, as, url.Values{"grant_type": {"refresh_token"}, "client_id": {client}, "refresh_token": {refresh}})
		if status != http.StatusOK {
			t.Fatalf("refresh %d: %d %v", i+1, status, tok)
		}
		refresh = tok["refresh_token"].(string)
		if got := spy.take(); len(got) != 0 {
			t.Fatalf("refresh %d: rate store calls %v, want none", i+1, got)
		}
	}
}
