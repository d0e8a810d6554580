package wsroute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Error codes sent to clients in error frames and HTTP refusals. Handlers may
// also use application codes of their own through NewError.
const (
	CodeBadRequest      = "bad_request"     // the frame could not be understood
	CodeNotFound        = "not_found"       // no route, or a handler found no such thing
	CodeUnauthenticated = "unauthenticated" // a session is required
	CodeForbidden       = "forbidden"       // permissions refused
	CodeInvalid         = "invalid"         // the input failed its schema or its Go type
	CodeRateLimited     = "rate_limited"    // too many messages
	CodeUnavailable     = "unavailable"     // shutting down or at capacity
	CodeInternal        = "internal"        // a handler failed; details are logged, never sent
)

// Sentinel errors returned by the package.
var (
	// ErrClosed is returned by Send, SendBinary and Subscribe on a channel
	// that is closing or closed, or whose opening was refused.
	ErrClosed = errors.New("wsroute: channel closed")
	// ErrNotOpen is returned by Send, SendBinary and Subscribe while the
	// channel is opening (from middleware, an Authenticator or a
	// Permission). Subscribe in OnConnect, which runs once it is open.
	ErrNotOpen = errors.New("wsroute: channel not open yet")
	// ErrSlowConsumer is returned by Send when the channel's send queue is full;
	// the channel is dropped at the same time.
	ErrSlowConsumer = errors.New("wsroute: slow consumer")
	// ErrNoReply, returned by a handler, sends nothing back to the client. It is
	// the documented way for a routed handler to stay silent (for example when it
	// answers later with Channel.Send).
	ErrNoReply = errors.New("wsroute: no reply")
	// ErrTooManyTopics is returned by Subscribe when the channel already
	// has MaxTopics subscriptions.
	ErrTooManyTopics = errors.New("wsroute: too many topics for this channel")
	// ErrBrokerUnavailable is wrapped by a Broker's Publish when its engine
	// cannot be reached. Router.Publish still delivers to this node's
	// subscribers and then returns the error: test it with errors.Is.
	ErrBrokerUnavailable = errors.New("wsroute: broker unavailable")
)

// Error is an error a client sees: it is sent as
// {"error":{"code":..,"message":..,"details":[..]}} with the route key and ref of
// the frame that caused it. Handlers return an *Error (wrapped or not) to choose
// the code; any other error becomes CodeInternal with a generic message.
type Error struct {
	Code    string   // machine-readable code, e.g. CodeForbidden or an application code
	Message string   // human-readable message, sent to the client
	Details []Detail // per-field failures; set for CodeInvalid
	// RetryAfter, when positive, tells the client when to try again; it is
	// sent as "retryAfterMs" (rate_limited errors carry it).
	RetryAfter time.Duration
	// Err is an optional cause. It is logged, never sent to the client.
	Err error
}

// Detail is one failure inside an invalid input.
type Detail struct {
	// Pointer is an escaped JSON pointer into the route's input ("" is the input itself).
	Pointer string `json:"pointer"`
	// Message says what is wrong at Pointer.
	Message string `json:"message"`
}

// NewError returns an *Error with the given code and message.
func NewError(code, message string) *Error {
	return &Error{Code: code, Message: message}
}

// Errorf returns an *Error with the given code and a formatted message. An
// error formatted with %w becomes the cause (Err): it is logged, and its
// text is left out of the message the client sees, so
//
//	wsroute.Errorf(wsroute.CodeNotFound, "no todo %q: %w", id, err)
//
// sends "no todo \"42\"" and logs the database's error.
func Errorf(code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	e := &Error{Code: code, Message: err.Error()}
	if errors.Unwrap(err) != nil {
		e.Err = err
		// %.0v formats the cause as nothing; then tidy the separator it leaves.
		msg := fmt.Sprintf(strings.ReplaceAll(format, "%w", "%.0v"), args...)
		e.Message = strings.TrimRight(msg, ": ")
	}
	return e
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("wsroute: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("wsroute: %s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, wsroute.NewError(wsroute.CodeForbidden, "")) matches any
// forbidden error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// wireError is the JSON shape of an error frame's "error" member.
type wireError struct {
	Code         string   `json:"code"`
	Message      string   `json:"message"`
	Details      []Detail `json:"details,omitempty"`
	RetryAfterMs int64    `json:"retryAfterMs,omitempty"`
}

// wire returns e's JSON shape.
func (e *Error) wire() wireError {
	w := wireError{Code: e.Code, Message: e.Message, Details: e.Details}
	if e.RetryAfter > 0 {
		w.RetryAfterMs = int64((e.RetryAfter + time.Millisecond - 1) / time.Millisecond)
	}
	return w
}

// Messages used for errors the pipeline raises itself.
var (
	errUnauthenticated = NewError(CodeUnauthenticated, "authentication required")
	errForbidden       = NewError(CodeForbidden, "permission denied")
	errInternal        = NewError(CodeInternal, "internal error")
)

// toError converts any handler error to the *Error a client sees.
// ErrorCode returns the code a client is sent for err, as the message
// lifecycle decides it: "" for nil and ErrNoReply, the code of an *Error in
// err's chain, else CodeInternal. Middleware uses it to see the outcome of
// the stages it wraps (a tracing middleware sets its span's status by it).
func ErrorCode(err error) string {
	if err == nil || errors.Is(err, ErrNoReply) {
		return ""
	}
	return toError(err).Code
}

func toError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return errInternal
}

// report converts err to the *Error a client sees and logs what the client
// does not see: an internal failure at error level, with its real error; a
// client error's cause (Err) at debug level.
func (r *Router) report(ctx context.Context, err error, msg string, attrs ...any) *Error {
	e := toError(err)
	switch {
	case e == errInternal || (e.Code == CodeInternal && e.Err != nil):
		r.log.Log(ctx, slog.LevelError, msg, append(attrs, "code", e.Code, "err", err)...)
	case e.Err != nil:
		r.log.Log(ctx, slog.LevelDebug, msg, append(attrs, "code", e.Code, "err", err)...)
	}
	return e
}
