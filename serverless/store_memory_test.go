package serverless_test

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/serverless"
	"github.com/wsroute/wsroute/serverless/storetest"
)

func TestMemoryStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, storetest.Config{
		New:      func(*testing.T) serverless.ChannelStore { return serverless.NewMemoryStore() },
		Synctest: true,
		Leftovers: func(_ *testing.T, s serverless.ChannelStore) []string {
			return serverless.MemoryLeftovers(s.(*serverless.MemoryStore))
		},
	})
}

// TestMemoryStoreSweeps: connections abandoned with a ttl are freed even if
// no call ever asks about them again.
func TestMemoryStoreSweeps(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := serverless.NewMemoryStore()
		for i := range 100 {
			st := wsroute.ChannelState{ID: fmt.Sprintf("gone-%d", i), Topics: []string{"a", fmt.Sprint(i)}}
			require.NoError(t, s.Put(t.Context(), st, time.Minute))
		}
		time.Sleep(time.Minute)
		for i := range 100 {
			st := wsroute.ChannelState{ID: fmt.Sprintf("live-%d", i), Topics: []string{"b"}}
			require.NoError(t, s.Put(t.Context(), st, time.Hour))
		}
		require.Equal(t, 100, s.Len(), "the abandoned connections are still held")
		require.Len(t, serverless.MemoryLeftovers(s), 101) // 100 records, topic b
	})
}
