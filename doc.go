// Package wsroute routes WebSocket channels: the routing, auth and
// validation discipline of an HTTP framework, brought to WebSockets.
//
// A Router is an http.Handler. It matches the request path to a channel
// route (net/http pattern syntax, "/rooms/{room}") and runs three lifecycles
// for every connection:
//
//   - Open: refuse early when shutting down or full (503), check the
//     handshake (426, 400) and the origin (403), create the Channel, then
//     middleware → auth → permissions, answered with HTTP 401/403 and a JSON
//     body before any upgrade; then the upgrade and OnConnect. Nothing reaches
//     a handler before OnConnect returns.
//   - Message: each text frame is classified, routed by its route key
//     ("action" by default) to a handler registered with Handle, else to the
//     default handler (HandleDefault); then middleware → auth → permissions →
//     JSON Schema validation → decoding into the handler's Go type → the
//     handler → the reply. Each stage may refuse with an error frame; the
//     connection stays open.
//   - Close: however a channel ends, its topic subscriptions are dropped, it
//     leaves the Router and OnDisconnect runs exactly once.
//
// Routes are secure by default: unless a route (or a channel's opening) is
// marked Public, it requires a session. Sessions are set at open by an
// Authenticator or middleware, or by a handler (log-in by message), and read
// with SessionAs, without type assertions.
//
// # Wire protocol
//
// Frames are JSON text. A request {"action":"create","ref":"7","title":"milk"}
// routes to "create" with the input {"title":"milk"}; the ref is echoed byte
// for byte. Replies merge the handler's object with the route key and ref
// ({"action":"create","ref":"7","todo":{...}}), acknowledge a nil result
// ({"action":"create","ref":"7"}) or wrap other values in "result". Errors are
// {"action":"create","ref":"7","error":{"code":"invalid","message":"...",
// "details":[{"pointer":"/title","message":"..."}]}}. Topic events are
// {"topic":"todos","data":...}. README.md has the complete tables, including
// close codes.
//
// # Concurrency
//
// Each connection has one reader goroutine, which never runs handlers; a
// worker runs only while there is work, on a small pool of goroutines shared
// by the Router, so an idle connection costs one goroutine. Messages of one
// connection are handled in order unless ChannelConfig.Parallel allows more.
// Frames for the peer are written by whoever queues them while no writer
// runs, without waiting for the peer (wsroute writes data frames to the
// socket itself, batched); only a peer that does not take them at once gets
// a writer on the pool, which waits for it within Limits.WriteTimeout.
// Queues are bounded in frames and bytes (Limits): a full inbound queue
// pauses reading (TCP pushes back), a full send queue drops the peer as a
// slow consumer, so senders never block.
//
// # Closing
//
// A channel is opening, open, closing or closed, and every way it ends goes
// through one teardown. Channel.Close, Router.CloseWhere and session expiry
// mean "stop now": handler contexts are cancelled at once, pushes are
// refused except a running handler's final reply, and after
// Limits.CloseTimeout a handler that ignores its context no longer holds
// the connection. Router.Shutdown means "finish your work", like
// http.Server.Shutdown: running handlers keep their contexts until
// Shutdown's own context ends (Channel.Closing tells them to wrap up); then
// what is left is dropped and Shutdown returns ctx.Err() at once. Every
// user callback runs under recover.
//
// # Sessions, users and per-connection values
//
// A session is set at open or by a handler and read with SessionAs; a
// failed message undoes its own session change, never someone else's.
// Local keys hold typed per-connection values (a room, a cursor) from the
// open lifecycle to OnDisconnect, and the values open middleware puts in
// its context stay in the channel's context. With Options.SessionKey the
// Router indexes channels by user: ChannelsOf, and CloseChannelsOf and
// SendToChannelsOf on every node through the Broker. Permissions return an
// error that may say why; OnDisconnect's CloseInfo carries the last
// session, and the exported Status and Reason constants describe every
// close.
//
// # The route registry
//
// Router.Walk visits every channel route in registration order as a
// ChannelInfo — pattern, path parameters, keys, policies, Summary and
// Description, and each route's policies, schema and Go input and output
// types — so that documentation and code generation work from what the
// server really runs. Topics declared with NewTopic carry the Go type of
// their events and are visited by Router.WalkTopics.
//
// AsyncAPI builds an AsyncAPI 3.0 document from both walks (AsyncAPIHandler
// serves it): a channel per channel route, a receive operation per route
// with its request, reply and error messages, a send operation per declared
// topic. Input schemas are the routes' JSON Schemas, or derived from the Go
// types by encoding/json's rules, as are replies and topic payloads. The
// TypeScript client in the repository's client/ folder generates typed
// bindings from that document.
//
// # Observability
//
// An Observer is told what happens on a Router: openings (and refusals),
// every handled message with its route, error code, ref, sizes and
// duration, closes, subscriptions, publishes, deliveries from other nodes
// and broker errors. StartOpen and StartMessage return the context the open
// lifecycle and a message's pipeline run under, so a tracing adapter's span
// is the parent of what the handler does and logs; InjectEnvelope puts trace
// context in Envelope.Headers, which other nodes' OnDeliver receive.
// JoinObservers composes observers; an unset callback costs nothing.
// Middleware sees the outcome of the stages it wraps with ErrorCode and
// Message.Reply. ChannelConfig.TraceKey lets a client send trace context in
// a frame. Module github.com/wsroute/wsroute/otelwsroute builds
// OpenTelemetry traces, metrics and logs on this seam.
//
// # Serverless
//
// Router.OpenDetached, HandleDetached and CloseDetached run the three
// lifecycles one event at a time for a channel whose connection no process
// holds (AWS API Gateway WebSocket APIs with a function per event): each
// rebuilds the Channel from its ChannelState, runs the same code a socket's
// channel runs against a connection that records what is written, and
// returns the new state and the frames to send. Sessions of such channels go
// through JSON (SessionAs decodes them); their subscriptions are part of the
// state. Module github.com/wsroute/wsroute/serverless is the Lambda handler,
// the stores and a local API Gateway emulator built on them.
//
// # Testing
//
// Package wsroutetest opens channels on a Router in memory, through the same
// lifecycle code. Two barriers replace sleeps: Flush (this connection's
// work is done, so "nothing was sent" is assertable) and Settle (the whole
// Router is quiet, so what other channels pushed has arrived). ReadReply,
// ReadEvent and RequireError read replies by ref, topic events and error
// frames; NewRecorder opens a real Channel on a registered route for
// calling one handler directly. The kit runs inside testing/synctest
// bubbles.
//
// # A complete program
//
//	package main
//
//	import (
//		"context"
//		"log"
//		"net/http"
//		"os"
//		"os/signal"
//		"syscall"
//
//		"github.com/wsroute/wsroute"
//	)
//
//	type Echo struct {
//		Text string `json:"text"`
//	}
//
//	func main() {
//		r := wsroute.New(wsroute.Options{})
//		ch := r.Channel("/echo", wsroute.ChannelConfig{Public: true})
//		wsroute.Handle(ch, "echo", func(ctx context.Context, c *wsroute.Channel, in Echo) (Echo, error) {
//			return in, nil
//		}, wsroute.RouteConfig{Public: true})
//
//		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//		defer stop()
//		srv := &http.Server{Addr: "127.0.0.1:8080", Handler: r}
//		// Serve until a signal, then shut the server and the Router down
//		// together (http.Server.Shutdown alone does not see upgraded
//		// connections), within Options.ShutdownTimeout.
//		if err := wsroute.Serve(ctx, srv, r); err != nil {
//			log.Fatal(err)
//		}
//	}
//
// A client sending {"action":"echo","ref":1,"text":"hi"} receives
// {"action":"echo","ref":1,"text":"hi"}.
package wsroute
