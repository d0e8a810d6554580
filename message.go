package wsroute

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/wsroute/wsroute/internal/frame"
)

// Message is what middleware, permissions and the default handler see of one
// stage of a channel's life: an inbound frame, or the opening itself
// (IsOpen). Its byte slices must not be modified; they are never reused, so
// they may be kept (returned as a json.RawMessage, say).
type Message struct {
	open   bool
	binary bool
	cr     *ChannelRoute
	route  *route
	data   []byte
	f      frame.Frame
	input  []byte // Input, built on first use

	reply []byte          // the frame to send once the pipeline succeeded; nil: none
	undo  []sessionChange // session changes its handler made, undone if it fails
}

// IsBinary reports whether the message is a binary frame, for the channel's
// binary handler (see HandleBinary). Its bytes are in Data.
func (m *Message) IsBinary() bool { return m.binary }

// IsOpen reports whether this is the open lifecycle rather than a message.
func (m *Message) IsOpen() bool { return m.open }

// Route returns what the message asked for: the route key's value when it
// is a string — for the default handler too, which then learns the name the
// client sent that matched no route — or "" (no route key, not a string, at
// open, binary frames).
func (m *Message) Route() string {
	if m.route != nil && m.route.name != "" {
		return m.route.name
	}
	if raw := m.routeRaw(); raw != nil {
		name, _ := frame.Unquote(raw)
		return name
	}
	return ""
}

// routeName is the name of the route that handled the message: "" for the
// default handler or none. Observers get it: it is bounded by registration,
// unlike what clients send.
func (m *Message) routeName() string {
	if m.route == nil {
		return ""
	}
	return m.route.name
}

// Data returns the frame exactly as received (nil at open).
func (m *Message) Data() []byte { return m.data }

// IsJSON reports whether the frame is valid JSON. The default handler also
// receives text that is not.
func (m *Message) IsJSON() bool { return m.f.Kind != frame.Invalid }

// Ref returns the frame's correlation value as raw JSON, or nil when it has
// none (or one that is not a single string or number, which is refused).
func (m *Message) Ref() json.RawMessage {
	if !m.f.Ref.Found || m.f.Ref.Dup || (m.f.Ref.Kind != frame.String && m.f.Ref.Kind != frame.Number) {
		return nil
	}
	return m.f.Ref.Raw
}

// Input returns the message's input as raw JSON: for a routed message the
// object without the route key and the ref (what the schema validates and
// the handler decodes); for the default handler the whole frame when it is
// JSON, nil otherwise.
func (m *Message) Input() json.RawMessage {
	switch {
	case m.f.Kind == frame.Invalid:
		return nil
	case m.route == nil || m.route.name == "":
		return m.data
	}
	if m.input == nil {
		m.input = frame.AppendWithout(nil, m.data, m.cr.keys...)
	}
	return m.input
}

// TraceContext returns the trace context the client sent in the channel's
// TraceKey field — an object of strings such as {"traceparent":"00-…"} —
// or nil when the channel has no TraceKey, the frame has no such field, or
// it is not an object of strings.
func (m *Message) TraceContext() map[string]string {
	key := m.cr.cfg.TraceKey
	if key == "" || m.f.Kind != frame.Object {
		return nil
	}
	var it frame.ObjectIter
	for ok := it.Reset(m.data); ok && it.Next(); {
		body, esc := it.Key()
		if (!esc && string(body) == key) || (esc && it.KeyString() == key) {
			var tc map[string]string
			if json.Unmarshal(it.Value(), &tc) != nil || len(tc) == 0 {
				return nil
			}
			return tc
		}
	}
	return nil
}

// Reply returns the reply frame the stages prepared, or nil when there is
// none (yet, or at all: an ack-less handler, the default handler returning
// nothing, an error). Middleware sees it after the stages it wraps
// returned; it is sent once the outermost one returns nil.
func (m *Message) Reply() json.RawMessage { return m.reply }

// routeRaw returns the route key's raw value when it is a string, for echoing.
func (m *Message) routeRaw() []byte {
	if m.f.Route.Found && !m.f.Route.Dup && m.f.Route.Kind == frame.String {
		return m.f.Route.Raw
	}
	return nil
}

// setReply encodes a routed handler's result as the protocol says: object
// merged with the route key and ref, null → ack, anything else → "result".
func (m *Message) setReply(res any, p outputPlan) error {
	e := getEncoder()
	defer putEncoder(e)
	if err := e.enc.Encode(res); err != nil {
		return fmt.Errorf("wsroute: encode reply: %w", err)
	}
	m.mergeReply(e.buf.Bytes(), p.trusted) // what json.Marshal gives, plus a newline AppendReply ignores
	return nil
}

// mergeReply sets the reply from the result's encoding b, which may be
// reused afterwards. trusted: the result type cannot hold the route key or
// ref.
func (m *Message) mergeReply(b []byte, trusted bool) {
	cfg := &m.cr.cfg
	m.reply = frame.AppendReply(make([]byte, 0, len(b)+len(cfg.RouteKey)+len(cfg.RefKey)+len(m.f.Route.Raw)+len(m.f.Ref.Raw)+8),
		cfg.RouteKey, m.routeRaw(), cfg.RefKey, m.Ref(), b, trusted && b[0] == '{')
}

// setRawReply encodes the default handler's result as it is; null sends nothing.
func (m *Message) setRawReply(res any) error {
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("wsroute: encode reply: %w", err)
	}
	if string(b) != "null" {
		m.reply = b
	}
	return nil
}

// replyEncoder is a reusable json.Encoder and its buffer: encoding a reply
// then costs one allocation (the reply itself) instead of two.
type replyEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var encoders = sync.Pool{New: func() any {
	e := &replyEncoder{}
	e.enc = json.NewEncoder(&e.buf)
	return e
}}

func getEncoder() *replyEncoder { return encoders.Get().(*replyEncoder) }

func putEncoder(e *replyEncoder) {
	if e.buf.Cap() > 64<<10 {
		return // let a rare huge buffer go
	}
	e.buf.Reset()
	encoders.Put(e)
}

// errorFrame encodes e as an error frame for m: {"action":..,"ref":..,"error":{..}}.
func (m *Message) errorFrame(e *Error) []byte {
	b, err := json.Marshal(struct {
		Error wireError `json:"error"`
	}{e.wire()})
	if err != nil { // only a broken application code string could do this
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	cfg := &m.cr.cfg
	return frame.AppendReply(nil, cfg.RouteKey, m.routeRaw(), cfg.RefKey, m.Ref(), b, true)
}
