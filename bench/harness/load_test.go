package harness

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	s := &Stats{}
	for i := 1; i <= 100; i++ {
		s.latencies = append(s.latencies, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 0.1: time.Millisecond} {
		if got := s.Percentile(p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if got := (&Stats{}).Percentile(50); got != 0 {
		t.Errorf("p50 of nothing = %v", got)
	}
}

// TestRunCountsOutcomes: successes, failures and 5xx answers are counted per operation, and an
// operation abandoned when ctx ends is not counted as a failure.
func TestRunCountsOutcomes(t *testing.T) {
	ops := map[string]Op{
		"ok":   func(context.Context, int) error { return nil },
		"bad":  func(context.Context, int) error { return &StatusError{Op: "bad", Status: 400} },
		"down": func(context.Context, int) error { return &StatusError{Op: "down", Status: 503} },
		"net":  func(context.Context, int) error { return errors.New("connection refused") },
	}
	names := []string{"ok", "ok", "bad", "down", "net"}
	res := Run(context.Background(), 3, 50*time.Millisecond, ops, func(_, i int) string { return names[i%len(names)] })
	ok, bad, down, net := res.Ops["ok"], res.Ops["bad"], res.Ops["down"], res.Ops["net"]
	if ok.Count == 0 || ok.Errors != 0 || len(ok.latencies) != ok.Count {
		t.Errorf("ok: %+v", ok)
	}
	if bad.Count != 0 || bad.Errors == 0 || bad.Status5xx != 0 || bad.FirstError == nil {
		t.Errorf("bad: %+v", bad)
	}
	if down.Errors == 0 || down.Status5xx != down.Errors {
		t.Errorf("down: %+v", down)
	}
	if net.Errors == 0 || net.Status5xx != 0 {
		t.Errorf("net: %+v", net)
	}
	if count, errs, s5 := res.Total(); count != ok.Count || errs != bad.Errors+down.Errors+net.Errors || s5 != down.Status5xx {
		t.Errorf("Total() = %d, %d, %d", count, errs, s5)
	}

	ctx, cancel := context.WithCancel(context.Background())
	abandoned := map[string]Op{"slow": func(ctx context.Context, _ int) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}}
	res = RunUntil(ctx, context.Background(), 2, abandoned, Only("slow"))
	if s := res.Ops["slow"]; s.Count != 0 || s.Errors != 0 {
		t.Errorf("abandoned operations counted: %+v", s)
	}
}
