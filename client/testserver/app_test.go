package main

import (
	"testing"

	"github.com/wsroute/wsroute"
)

// TestRouterDescribesEveryFeature checks that newRouter — the source of the
// test server and of documents generated from its registry — keeps the
// features those documents and the client's tests rely on.
func TestRouterDescribesEveryFeature(t *testing.T) {
	r := newRouter(Config{})
	chans := map[string]wsroute.ChannelInfo{}
	if err := r.Walk(func(ch wsroute.ChannelInfo) error { chans[ch.Name] = ch; return nil }); err != nil {
		t.Fatal(err)
	}
	lab, rooms := chans["lab"], chans["rooms"]
	if lab.Pattern != "/lab" || !lab.Public || lab.Summary == "" || lab.Description == "" || lab.Default == nil {
		t.Errorf("lab channel: %+v", lab)
	}
	if rooms.Pattern != "/rooms/{room}" || rooms.Public || len(rooms.Params) != 1 || rooms.Params[0] != "room" {
		t.Errorf("rooms channel: %+v", rooms)
	}
	if _, ok := rooms.Authenticator.(wsroute.TokenAuth); !ok {
		t.Errorf("rooms channel authenticator %T, want wsroute.TokenAuth", rooms.Authenticator)
	}
	routes := map[string]wsroute.RouteInfo{}
	for _, rt := range lab.Routes {
		routes[rt.Name] = rt
		if rt.Summary == "" {
			t.Errorf("route lab/%s has no summary", rt.Name)
		}
	}
	for _, name := range []string{"login", "echo", "sleep", "list", "ping", "buy", "subscribe", "unsubscribe", "announce", "stats"} {
		if _, ok := routes[name]; !ok {
			t.Errorf("lab has no route %q", name)
		}
	}
	for _, name := range []string{"login", "echo", "sleep", "buy", "subscribe"} {
		if routes[name].Schema == nil {
			t.Errorf("route lab/%s has no schema", name)
		}
	}
	if !routes["login"].Public || routes["announce"].Public {
		t.Error("login must be public and announce must require a session")
	}
	var topics []string
	_ = r.WalkTopics(func(ti wsroute.TopicInfo) error { topics = append(topics, ti.Pattern); return nil })
	if len(topics) != 2 || topics[0] != "news" || topics[1] != "rooms/{room}" {
		t.Errorf("topics %v", topics)
	}
}
