package apigw

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/coder/websocket"
)

// serveManagement serves POST, GET and DELETE /@connections/{id}.
func (e *Emulator) serveManagement(w http.ResponseWriter, r *http.Request, id string) {
	if !e.enter() { // shutting down: every connection is going
		writeAWSError(w, http.StatusGone, "GoneException", "")
		return
	}
	defer e.wg.Done()

	body, err := io.ReadAll(io.LimitReader(r.Body, int64(e.opts.MaxMessage)+1))
	if err != nil {
		writeAWSError(w, http.StatusBadRequest, "BadRequestException", "cannot read the request body")
		return
	}
	if r.Method == http.MethodPost && len(body) > e.opts.MaxMessage {
		// Too long to have been read whole, so not verifiable: refuse first.
		if _, err := parseAuthorization(r.Header.Get("Authorization")); err != nil {
			writeAWSError(w, http.StatusForbidden, errMissingAuth.typ, errMissingAuth.msg)
			return
		}
		writeAWSError(w, http.StatusRequestEntityTooLarge, "PayloadTooLargeException", "Request Too Long")
		return
	}
	if err := verifySigV4(r, body, e.opts.Credentials, e.opts.Region, time.Now()); err != nil {
		ae, _ := asAuthError(err)
		e.log.Info("apigw: Management API request refused", "method", r.Method, "connectionId", id, "err", err)
		writeAWSError(w, http.StatusForbidden, ae.typ, ae.msg)
		return
	}
	switch r.Method {
	case http.MethodPost, http.MethodGet, http.MethodDelete:
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		writeAWSError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "Method Not Allowed")
		return
	}
	c := e.lookup(id)
	if c == nil || c.socket() == nil {
		writeAWSError(w, http.StatusGone, "GoneException", "")
		return
	}
	w.Header().Set("X-Amzn-Requestid", newID())
	switch r.Method {
	case http.MethodPost:
		if err := c.send(body); err != nil {
			e.log.Info("apigw: PostToConnection failed", "connectionId", id, "err", err)
			writeAWSError(w, http.StatusGone, "GoneException", "")
			return
		}
		w.WriteHeader(http.StatusOK)
	case http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(c.info())
	case http.MethodDelete:
		// AWS reports a deleted connection's $disconnect as 1000
		// "Connection Closed Normally" (aws/chalice#2060, boto/boto3#3789).
		c.setClose(websocket.StatusNormalClosure, "Connection Closed Normally")
		c.closeAsync(websocket.StatusNormalClosure, "")
		w.WriteHeader(http.StatusNoContent)
	}
}

// MarshalJSON writes GetConnection's timestamps with milliseconds, as AWS
// does ("2020-04-30T20:10:33.236Z").
func (w wireConnection) MarshalJSON() ([]byte, error) {
	const iso = "2006-01-02T15:04:05.000Z"
	type identity struct {
		SourceIP  string `json:"sourceIp"`
		UserAgent string `json:"userAgent"`
	}
	return json.Marshal(struct {
		ConnectedAt  string   `json:"connectedAt"`
		Identity     identity `json:"identity"`
		LastActiveAt string   `json:"lastActiveAt"`
	}{w.ConnectedAt.UTC().Format(iso), identity{w.Identity.SourceIP, w.Identity.UserAgent}, w.LastActiveAt.UTC().Format(iso)})
}
