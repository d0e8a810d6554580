// Package redisbroker carries wsroute publishes between the nodes of a
// deployment over Redis Pub/Sub (github.com/redis/go-redis/v9), so that
// Router.Publish on one node reaches the subscribers of every node.
//
// Give each Router its own Broker, all pointing at the same Redis:
//
//	b, err := redisbroker.New(redisbroker.Options{Addr: "redis.internal:6379"})
//	if err != nil {
//		return err // invalid options only; a Redis that is down is not an error
//	}
//	r := wsroute.New(wsroute.Options{Broker: b})
//	// ... routes, http.Server ...
//	defer r.Shutdown(ctx) // also detaches the Broker
//
// A topic is the Redis channel Options.Prefix+topic ("wsroute:" by default;
// give each application sharing a Redis its own prefix). A node subscribes to
// that channel while it has local subscribers to the topic, and unsubscribes
// when the last one leaves. Envelopes carry the publishing node's id (a node
// ignores its own) and the id of an excluded channel, encoded by
// Options.Codec (JSON by default).
//
// # Guarantees
//
// Delivery is at most once: Redis Pub/Sub stores nothing, and a node that is
// disconnected when a message is published never sees it. Envelopes one node
// publishes one after the other reach every other node in that order: each
// Broker reads its one subscription connection from one goroutine and
// delivers sequentially. Subscribe returns once Redis has taken the
// subscription (or after Options.PublishTimeout), so a publish made after it
// returns reaches the node.
//
// # Concurrent calls
//
// A Broker is safe for concurrent use, and the Router uses it so: it
// serializes its calls for one topic only. Subscribe and Unsubscribe of
// different topics run at the same time, over the one subscription
// connection (go-redis writes one command at a time on it, and a call may
// wait there for a reconnection in progress, whatever its context).
// Unsubscribe is made in the background after the last local subscriber
// left, possibly after Detach when Router.Shutdown's context ended early.
//
// Subscribe learns that Redis has taken its subscription from Redis's
// answer to a PING carrying a token of the call's own, sent after the
// SUBSCRIBE on the same connection; Redis's "subscribe" reply would not do,
// as it may be a late answer to an earlier SUBSCRIBE of the topic. Its
// context is the subscribing channel's: when it ends before Redis has
// answered, Subscribe withdraws the subscription and returns an error
// wrapping the context's cause. So a nil return always means that the node
// is subscribed (or will be on reconnection, after an outage), and an error
// that it is not.
//
// # Faults
//
// When Redis cannot be reached, Publish fails fast: it returns within
// Options.PublishTimeout (2s by default; at once when the connection is
// refused) an error wrapping wsroute.ErrBrokerUnavailable, after at most one
// retry and without buffering anything for later. Router.Publish has
// delivered to the node's own subscribers before, and returns that error:
//
//	if err := r.Publish(ctx, "room", msg, wsroute.PublishOptions{}); errors.Is(err, wsroute.ErrBrokerUnavailable) {
//		// local subscribers got it; other nodes did not
//	}
//
// Subscribe and Unsubscribe do not fail for an outage: the Broker records the
// wanted topics and, when its subscription connection is lost, reconnects by
// itself (waiting 50ms, doubling up to 1s between attempts) and subscribes
// again to every topic wanted at that moment. A connection that goes silent
// is checked with PING after 5s and replaced if no answer comes within 2s.
// Losses and recoveries are logged to Options.Logger.
//
// # Shutdown
//
// Router.Shutdown detaches the Broker: Detach closes the subscription
// connection, waits for the goroutine reading it, and closes the Redis client
// the Broker made when attached (a client passed in Options.Client stays
// open). No goroutine of the Broker's is left. A Subscribe still waiting for
// Redis then returns an error; later, Subscribe and Publish return errors
// (Publish's wraps wsroute.ErrBrokerUnavailable) and Unsubscribe does
// nothing, and none of them connects to Redis again. A Broker is attached to
// one Router once, by wsroute.New; attaching it again panics.
//
// A Broker made with Options.Client uses that client's timeouts and retries
// for publishing; set its ContextTimeoutEnabled so that PublishTimeout bounds
// the socket reads and writes too. The client the Broker makes itself dials
// once, for at most a second, and retries a failed command once.
package redisbroker
