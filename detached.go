package wsroute

import (
	"encoding/json"
	"net/http"
	"time"
)

// ChannelState is a channel between events when no process holds its
// connection: what a serverless deployment (AWS API Gateway WebSocket APIs
// with a function per event, module github.com/wsroute/wsroute/serverless)
// keeps in a store, and what the Router's detached lifecycles (OpenDetached,
// HandleDetached, CloseDetached) read and return. It round-trips through
// JSON.
type ChannelState struct {
	// ID is the channel's id: the connection id of the gateway.
	ID string `json:"id"`
	// Channel is the name of the channel route (ChannelConfig.Name).
	Channel string `json:"channel"`
	// URL is the opening request's path and query ("/rooms/lobby?x=1"),
	// from which the path values are matched again.
	URL string `json:"url"`
	// Header is the opening request's header, as Channel.Header shows it.
	Header http.Header `json:"header,omitempty"`
	// RemoteAddr is the client's address, as Channel.RemoteAddr shows it.
	RemoteAddr string `json:"remoteAddr,omitempty"`
	// Session is the session as JSON; absent when there is none. Sessions
	// of detached channels must round-trip through encoding/json:
	// SessionAs[T] decodes it into a T.
	Session json.RawMessage `json:"session,omitempty"`
	// SessionExpires is when the session expires; zero: never.
	SessionExpires time.Time `json:"sessionExpires,omitzero"`
	// Connected: OnConnect succeeded, so OnDisconnect runs at the close.
	Connected bool `json:"connected"`
	// Topics are the channel's subscriptions, sorted.
	Topics []string `json:"topics,omitempty"`
}
