// Package natsbroker is a wsroute.Broker over NATS core publish/subscribe
// (github.com/nats-io/nats.go): it carries Router.Publish between the nodes
// of a deployment, each node a Router with its own Broker on one NATS
// (server or cluster).
//
//	b, err := natsbroker.New(natsbroker.Options{URL: "nats://nats:4222", Prefix: "chat."})
//	if err != nil {
//		return err // invalid options only: New does not wait for NATS
//	}
//	r := wsroute.New(wsroute.Options{Broker: b})
//	// ... serve r; r.Shutdown(ctx) detaches the broker and closes its connection.
//
// # Subjects and delivery
//
// A topic is published on the subject Prefix + token, where token is the
// unpadded base64url encoding of the topic (see Broker.Subject), so any
// topic string, with dots, spaces or wildcard characters, is one literal
// subject token. A node subscribes a topic's subject while it has local
// subscribers to it, and only then. Each publish is a NATS message carrying
// the envelope (origin node id, topic, payload, excluded channel) encoded by
// Options.Codec; delivery is at most once, nothing is stored.
//
// All of a Broker's subscriptions deliver into one channel read by one
// goroutine, which decodes each message and hands it to the Router. NATS
// keeps the order of one publisher's messages on a subject, so the Router
// sees them in that order for every topic; the goroutine is the Broker's
// own, so Detach can wait for it, and a node with many topics costs no more
// goroutines than a node with one. The Router's delivery never blocks, so one
// goroutine keeps up; when 65,536 messages are waiting nonetheless, nats.go
// drops further ones as a slow consumer (and the Broker logs it on a
// connection it made).
//
// # Concurrent calls
//
// A Broker is safe for concurrent use, and the Router uses it so: it
// serializes its calls for one topic only. Subscribe and Unsubscribe of
// different topics run at the same time; Unsubscribe is made in the
// background after the last local subscriber left, possibly after Detach
// when Router.Shutdown's context ended early. Subscribe waits for the
// server's answer to a PING sent after its SUB (a flush), which the server
// gives once it has registered the subscription. Its context is the
// subscribing channel's: when it ends before the server has answered,
// Subscribe removes the subscription and returns an error wrapping the
// context's cause. So a nil return always means that the node is subscribed
// (or will be on reconnection, after an outage), and an error that it is
// not. After Detach, Subscribe and Publish return errors wrapping
// wsroute.ErrBrokerUnavailable and Unsubscribe does nothing; a Subscribe
// that Detach overtakes fails too.
//
// # Faults
//
// When NATS cannot be reached, Publish returns at once an error wrapping
// wsroute.ErrBrokerUnavailable (and nats.go's reason); Router.Publish still
// delivers on its own node and returns that error. Nothing is buffered to be
// sent later. Subscribe and Unsubscribe succeed during an outage: nats.go
// keeps the subscriptions and sends all of them again to the server after
// every reconnection, so every topic a node had is restored without the
// application doing anything. A connection New makes is configured for this:
//
//	nats.ReconnectBufSize(-1)       // publish fails while reconnecting instead of buffering
//	nats.MaxReconnects(-1)          // reconnect forever
//	nats.RetryOnFailedConnect(true) // New succeeds while NATS is down; publishes fail until it is up
//	nats.ReconnectWait(time.Second)
//	nats.PingInterval(10 * time.Second) // a silently dead server is noticed in about 30 s
//	nats.NoEcho()                   // own publishes are not sent back
//
// A dropped TCP connection or a stopped server is noticed at once; a server
// that vanishes without closing the connection (a partition) only after the
// missed pings, and messages published meanwhile are lost without an error,
// as at-most-once allows.
//
// # A connection of your own
//
// Options.Conn makes the Broker use a connection the application made (to
// share it, or for TLS, credentials or other nats.Options). Create it with
// nats.ReconnectBufSize(-1), nats.MaxReconnects(-1) and
// nats.RetryOnFailedConnect(true) for the behaviour above; Publish also
// refuses on its own while the connection is not connected, but a message
// published in the instant it goes down would otherwise sit in nats.go's
// reconnect buffer. Do not set nats.NoEcho on a connection several Brokers
// share (they would not hear each other). Router.Shutdown detaches the
// Broker: its subscriptions are removed and its goroutine stopped, and the
// connection is left open for its owner to close.
package natsbroker
