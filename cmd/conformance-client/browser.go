package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
)

// approveAtOnce is the client's OpenBrowser hook for the suite: its
// authorization server answers the authorization URL with a redirect that
// carries the code, so "the user's browser" is a GET of the authorization URL,
// without following redirects, then a GET of the Location, which is the
// client's loopback callback.
func approveAtOnce(ctx context.Context, authURL string) error {
	noFollow := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	location, err := get(ctx, noFollow, authURL, http.StatusFound, http.StatusSeeOther)
	if err != nil {
		return fmt.Errorf("authorization endpoint: %w", err)
	}
	if _, err := get(ctx, noFollow, location.String(), http.StatusOK); err != nil {
		return fmt.Errorf("loopback callback: %w", err)
	}
	return nil
}

// get requests rawURL and returns the response's Location (nil when it has
// none, an error if a redirect was wanted); a status other than those wanted
// is an error.
func get(ctx context.Context, c *http.Client, rawURL string, want ...int) (*url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if !slices.Contains(want, resp.StatusCode) {
		return nil, fmt.Errorf("unexpected status %d", resp.StatusCode)
	}
	if resp.StatusCode/100 != 3 {
		return nil, nil
	}
	return resp.Location()
}
