package natsbroker_test

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute/brokers/natsbroker"
	"github.com/wsroute/wsroute/internal/brokertest"
)

// TestContract runs the Broker contract tests every adapter shares.
func TestContract(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(natsURL(t))
	require.NoError(t, err)
	brokertest.Run(t, brokertest.Config[*natsbroker.Broker]{
		Addr: u.Host,
		New: func(t testing.TB, o brokertest.Options) *natsbroker.Broker {
			opts := natsbroker.Options{URL: natsURL(t), Prefix: "wsroute-test." + o.Prefix}
			if o.Addr != "" {
				opts.URL = "nats://" + o.Addr
			}
			if o.CallersConnection {
				opts.Conn = connect(t, opts.URL)
			}
			b, err := natsbroker.New(opts)
			require.NoError(t, err)
			return b
		},
		// The Broker's own record of its subscriptions, which must agree
		// with nats.go's.
		Subscriptions: func(_ testing.TB, b *natsbroker.Broker, _ string, _ []string) map[string]int {
			got := make(map[string]int)
			for _, topic := range b.Topics() {
				got[topic] = 1
			}
			if n := b.Conn().NumSubscriptions(); n != len(got) {
				got[fmt.Sprintf("(but nats.go holds %d subscriptions)", n)] = 1
			}
			return got
		},
		ErrDetached:       natsbroker.ErrDetached,
		CallersConnection: true,
		Connected: func(t testing.TB, b *natsbroker.Broker) {
			waitStatus(t.Context(), t, b.Conn(), nats.CONNECTED)
		},
		// Publish hands the message to nats.go, which sends it later.
		Flush: func(t testing.TB, b *natsbroker.Broker) {
			require.NoError(t, b.Conn().Flush())
		},
	})
}
