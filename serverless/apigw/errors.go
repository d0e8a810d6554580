package apigw

import (
	"errors"
	"fmt"
)

// ErrGone is what the Management API's 410 GoneException matches with
// errors.Is: the connection does not exist (never did, is closed, or has not
// finished its $connect yet). A Lambda adapter removes the connection from its
// store when it sees it.
var ErrGone = errors.New("apigw: connection is gone")

// APIError is a non-2xx answer of the Management API. errors.Is(err, ErrGone)
// is true for a 410; errors.As gives the status and the AWS error type
// (GoneException, ForbiddenException, PayloadTooLargeException,
// LimitExceededException, InvalidSignatureException, …).
type APIError struct {
	Op           string // "PostToConnection", "GetConnection" or "DeleteConnection"
	ConnectionID string
	StatusCode   int
	Type         string // the x-amzn-ErrorType header without its ":…" suffix, or the body's __type
	Message      string
	RequestID    string // x-amzn-RequestId, when the service sent one
}

// Error describes the failed call.
func (e *APIError) Error() string {
	t := e.Type
	if t == "" {
		t = "error"
	}
	s := fmt.Sprintf("apigw: %s %s: %d %s", e.Op, e.ConnectionID, e.StatusCode, t)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is makes errors.Is(err, ErrGone) true for a 410.
func (e *APIError) Is(target error) bool { return target == ErrGone && e.StatusCode == 410 }
