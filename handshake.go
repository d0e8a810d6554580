package wsroute

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// checkHandshake validates a WebSocket opening request before anything else
// runs: 426 for a plain HTTP request, 400 for a malformed handshake.
func checkHandshake(w http.ResponseWriter, req *http.Request) (int, *Error) {
	if !req.ProtoAtLeast(1, 1) || !headerHasToken(req.Header, "Connection", "upgrade") || !headerHasToken(req.Header, "Upgrade", "websocket") {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		return http.StatusUpgradeRequired, NewError(CodeBadRequest, "this is a WebSocket endpoint: upgrade required")
	}
	if req.Method != http.MethodGet {
		return http.StatusBadRequest, NewError(CodeBadRequest, "the WebSocket handshake must be a GET request")
	}
	if req.Header.Get("Sec-WebSocket-Version") != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		return http.StatusBadRequest, NewError(CodeBadRequest, "unsupported WebSocket version: only 13 is supported")
	}
	keys := req.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return http.StatusBadRequest, NewError(CodeBadRequest, "the handshake needs exactly one Sec-WebSocket-Key")
	}
	if k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(keys[0])); err != nil || len(k) != 16 {
		return http.StatusBadRequest, NewError(CodeBadRequest, "invalid Sec-WebSocket-Key")
	}
	return 0, nil
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// checkOrigin applies coder/websocket's origin policy before the channel is
// created, so a cross-site page learns nothing else: no Origin header or the
// request's own host is allowed; other origins must match
// AcceptOptions.OriginPatterns; InsecureSkipVerify allows all.
func (r *Router) checkOrigin(req *http.Request) *Error {
	origin := req.Header.Get("Origin")
	if origin == "" || r.accept.InsecureSkipVerify {
		return nil
	}
	u, err := url.Parse(origin)
	if err == nil && strings.EqualFold(req.Host, u.Host) {
		return nil
	}
	if err == nil {
		for _, p := range r.accept.OriginPatterns {
			target := u.Host
			if strings.Contains(p, "://") {
				target = u.Scheme + "://" + u.Host
			}
			if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
				return nil
			}
		}
	}
	return NewError(CodeForbidden, "origin not allowed")
}
