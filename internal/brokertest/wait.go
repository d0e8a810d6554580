package brokertest

import (
	"context"
	"errors"
	"testing"
	"time"
)

// WaitUntil polls cond every 5 ms until it holds, failing t after 10s.
func WaitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("not within 10s: %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Result waits, at most 10s, for the error a call sends on ch.
func Result(t testing.TB, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not return within 10s")
		return errors.New("timeout")
	}
}
