// Package wsroutetest opens wsroute channels in memory, the way
// net/http/httptest serves HTTP handlers without a network.
//
// Dial runs a Router's real open lifecycle (path match, handshake and origin
// checks, middleware, auth, permissions, OnConnect) on an in-memory
// connection and returns once OnConnect has returned; frames then go
// through the same reader, queues, worker, writer and close lifecycle as a
// network socket. Only coder/websocket's framing is left out.
//
//	c := wsroutetest.MustDial(t, r, "/todos?token=alice-token", nil)
//	require.NoError(t, c.Send(map[string]any{"action": "create", "ref": 1, "title": "milk"}))
//	reply, err := c.ReadReply(t.Context(), 1)
//
// # Barriers
//
// Two barriers make tests deterministic without sleeping. Flush waits for
// the channel's own work: after it, every reply and push caused by what its
// client sent has been received, so an empty Received proves that nothing
// was sent. Settle waits for the whole Router to be quiet: after it, what
// other channels' handlers (and OnDisconnect callbacks) pushed to this
// channel — a topic event, a join or leave announcement, a Channel.Send
// from elsewhere — has been received too.
//
// # Reading
//
// Read and ReadJSON return frames in order; Received flushes and returns all
// that are left. ReadReply (the reply or error for one ref) and ReadEvent
// (the next event of one topic) pick a frame out of order and keep the
// frames they pass over, in order, for the next reads. ParseError decodes an
// error frame into an ErrorFrame, and RequireError asserts one with its
// code.
//
// # Calling a handler directly
//
// NewRecorder opens a real channel on a registered channel route of the
// application's Router (or, with a nil Router, on a public channel of its
// own) for a handler function called directly with Recorder.Channel;
// Recorder.Sent returns what was sent to it.
//
// # Ends
//
// Close (from the client, with a close frame), Drop (a network failure) and
// Wait (for the server's end) return once the channel's close lifecycle has
// ended: OnDisconnect has run and the channel has left the Router, so its
// effects can be asserted at once. Done is closed at the same moment.
// MustDial and NewRecorder drop their channel when the test ends.
//
// # Concurrency
//
// A Conn is driven by one goroutine, like a net.Conn by its reader: Read,
// ReadJSON, ReadReply, ReadEvent, Received and Wait are not safe for
// concurrent use. The rest of its methods (Send, SendText, SendBinary,
// Flush, Settle, Close, Drop, Done, Channel, String) may be called from
// other goroutines, also while one reads. A Recorder's Sent reads its Conn.
//
// # Fake time with testing/synctest
//
// The kit starts no goroutine of its own beyond the one that serves each
// connection and uses no real clock, so it runs inside a synctest.Test
// bubble: dialing, sending, Flush and Settle, and Shutdown work there, and
// time.Sleep advances the fake clock that drives session expiry,
// CloseTimeout, rate limits and FirstMessageTimeout. Create the Router
// inside the bubble (its goroutines and timers must belong to it), and shut
// it down and end its connections before the bubble ends — a t.Cleanup
// registered inside the bubble runs inside it.
//
// Pitfall: heartbeats keep fake time moving. With Limits.PingInterval at its
// default (30s) every open channel has a timer pending, so a bubble whose
// goroutines all wait is never durably blocked: the clock jumps to the next
// ping (which the in-memory peer answers at once), and the next. A Wait or
// Read that nothing will end then spins through fake hours until the test
// times out, instead of failing at once with synctest's deadlock panic.
// Before waiting for a close, check that one has begun —
//
//	synctest.Wait()
//	select {
//	case <-c.Channel().Closing():
//	default:
//		t.Fatal("the channel is not closing")
//	}
//	err := c.Wait(t.Context())
//
// — or set Limits.PingInterval negative in such tests.
package wsroutetest
