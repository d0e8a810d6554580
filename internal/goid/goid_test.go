package goid

import (
	"sync"
	"testing"
)

func TestIDDistinctAndStable(t *testing.T) {
	t.Parallel()
	me := ID()
	if me == 0 {
		t.Fatal("ID() = 0")
	}
	if again := ID(); again != me {
		t.Fatalf("ID() changed on one goroutine: %d then %d", me, again)
	}
	const n = 50
	ids := make([]uint64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { ids[i] = ID() })
	}
	wg.Wait()
	seen := map[uint64]bool{me: true}
	for _, id := range ids {
		if id == 0 || seen[id] {
			t.Fatalf("goroutine ids not distinct: %v (main %d)", ids, me)
		}
		seen[id] = true
	}
}
