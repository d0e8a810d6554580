package apigw

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Route keys API Gateway predefines.
const (
	RouteConnect    = "$connect"
	RouteDisconnect = "$disconnect"
	RouteDefault    = "$default"
)

// routeSelector evaluates a route selection expression of the form
// $request.body.a.b (or ${request.body.a.b}), the only form WebSocket APIs
// take, against a message and picks a configured route key or $default.
type routeSelector struct {
	path []string
	keys map[string]bool
}

func newRouteSelector(expr string, keys []string) (*routeSelector, error) {
	e := expr
	if strings.HasPrefix(e, "${") && strings.HasSuffix(e, "}") {
		e = "$" + e[2:len(e)-1]
	}
	const prefix = "$request.body."
	if !strings.HasPrefix(e, prefix) || len(e) == len(prefix) {
		return nil, fmt.Errorf("apigw: route selection expression %q: want $request.body.<path>", expr)
	}
	path := strings.Split(e[len(prefix):], ".")
	for _, p := range path {
		if p == "" {
			return nil, fmt.Errorf("apigw: route selection expression %q: empty path element", expr)
		}
	}
	s := &routeSelector{path: path, keys: make(map[string]bool, len(keys))}
	for _, k := range keys {
		switch k {
		case "", RouteConnect, RouteDisconnect, RouteDefault:
			continue
		}
		s.keys[k] = true
	}
	return s, nil
}

// selectRoute returns the route key for a message: the value at the path,
// stringified (a JSON string as is; numbers, booleans, objects and arrays as
// their JSON text) when a configured key equals it, else $default — also for
// non-JSON text and a missing or null value.
func (s *routeSelector) selectRoute(body []byte) string {
	// The whole message must be one JSON value: a decoder alone stops after
	// the first value, and its More accepts a stray '}' after it (the
	// fuzzer found {"action":1}}).
	if !json.Valid(body) {
		return RouteDefault
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return RouteDefault
	}
	for _, p := range s.path {
		m, ok := v.(map[string]any)
		if !ok {
			return RouteDefault
		}
		if v, ok = m[p]; !ok {
			return RouteDefault
		}
	}
	var key string
	switch x := v.(type) {
	case nil:
		return RouteDefault
	case string:
		key = x
	case json.Number:
		key = x.String()
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return RouteDefault
		}
		key = string(b)
	}
	if s.keys[key] {
		return key
	}
	return RouteDefault
}
