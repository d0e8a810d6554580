package otelwsroute_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/otelwsroute"
	"github.com/wsroute/wsroute/wsroutetest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

var update = flag.Bool("update", false, "rewrite testdata/example-trace.txt")

// TestExampleTrace renders the spans of one scenario — a browser that sends
// its trace context with a message, a handler that publishes, a second node
// whose subscribers get the event — as the text the README shows under
// "Observability". The rendering keeps what a trace viewer shows (names,
// kinds, parents, links, attributes) and drops ids and times, so it is
// stable; the README must contain it as it is.
func TestExampleTrace(t *testing.T) {
	const browserTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	const browserSpan = "00f067aa0ba902b7"
	const pageSpan = "b7ad6b7169203331"
	b := wsroute.NewMemoryBroker()
	// The app's topics are a fixed few: each may name its delivery spans.
	cfg := otelwsroute.Config{TopicAttribute: func(topic string) string { return topic }}
	telA, telB := newTel(t, cfg), newTel(t, cfg)
	mk := func(tl *tel) *wsroute.Router {
		r := newRouter(t, wsroute.Options{Broker: b, Observer: tl.obs})
		ch := r.Channel("/todos", wsroute.ChannelConfig{Name: "todos", Public: true, TraceKey: "trace"})
		wsroute.Handle(ch, "subscribe", func(_ context.Context, c *wsroute.Channel, _ struct{}) (any, error) {
			return nil, c.Subscribe("todos")
		}, wsroute.RouteConfig{Public: true})
		wsroute.Handle(ch, "create", func(ctx context.Context, c *wsroute.Channel, in struct {
			Title string `json:"title"`
		}) (map[string]string, error) {
			todo := map[string]string{"id": "1", "title": in.Title}
			return map[string]string{"id": "1"}, c.Router().Publish(ctx, "todos", todo, wsroute.PublishOptions{Exclude: c})
		}, wsroute.RouteConfig{Public: true})
		return r
	}
	ra, rb := mk(telA), mk(telB)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for range 2 {
		s := wsroutetest.MustDial(t, rb, "/todos", nil)
		require.NoError(t, s.SendText(`{"action":"subscribe"}`))
		_, err := s.Read(ctx)
		require.NoError(t, err)
	}
	h := http.Header{"Traceparent": {"00-" + browserTrace + "-" + pageSpan + "-01"}}
	a := wsroutetest.MustDial(t, ra, "/todos", &wsroutetest.DialOptions{Header: h})
	require.NoError(t, a.SendText(`{"action":"create","ref":"7","trace":{"traceparent":"00-`+browserTrace+`-`+browserSpan+`-01"},"title":"milk"}`))
	_, err := a.Read(ctx)
	require.NoError(t, err)
	telA.waitEnded(t, "todos create", 1)
	telB.waitEnded(t, "deliver todos", 1)

	got := render(map[string][]sdktrace.ReadOnlySpan{
		"A": filter(telA.spans.Ended(), "open todos", "todos create"),
		"B": filter(telB.spans.Ended(), "deliver todos"),
	}, map[string]string{browserTrace: "the browser's trace", browserSpan: "the browser's click span", pageSpan: "the browser's page-load span"})

	golden := filepath.Join("testdata", "example-trace.txt")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "go test ./otelwsroute -run ExampleTrace -update")
	require.Equal(t, string(want), got)
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	require.Contains(t, string(readme), got, "the README's example trace is not the one the test renders: paste testdata/example-trace.txt")
}

func filter(spans []sdktrace.ReadOnlySpan, names ...string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		for _, n := range names {
			if s.Name() == n {
				out = append(out, s)
			}
		}
	}
	return out
}

// render prints spans grouped by trace, as a viewer shows them: ids become
// names (known ones from the labels, others "trace 1", "span of <name>").
func render(byNode map[string][]sdktrace.ReadOnlySpan, labels map[string]string) string {
	spanName := map[trace.SpanID]string{}
	type row struct {
		node string
		s    sdktrace.ReadOnlySpan
	}
	var rows []row
	for node, spans := range byNode {
		for _, s := range spans {
			spanName[s.SpanContext().SpanID()] = s.Name()
			rows = append(rows, row{node, s})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].s.StartTime().Before(rows[j].s.StartTime()) })
	traces := map[trace.TraceID]string{}
	traceName := func(id trace.TraceID) string {
		if l, ok := labels[id.String()]; ok {
			return l
		}
		if n, ok := traces[id]; ok {
			return n
		}
		traces[id] = fmt.Sprintf("trace %d", len(traces)+1)
		return traces[id]
	}
	ref := func(sc trace.SpanContext) string {
		if n, ok := spanName[sc.SpanID()]; ok {
			return fmt.Sprintf("%q in %s", n, traceName(sc.TraceID()))
		}
		if l, ok := labels[sc.SpanID().String()]; ok {
			return fmt.Sprintf("%s in %s", l, traceName(sc.TraceID()))
		}
		return "a span in " + traceName(sc.TraceID())
	}
	var b strings.Builder
	for _, r := range rows {
		s := r.s
		fmt.Fprintf(&b, "%-15s node %s  %s, %s\n", s.Name(), r.node, strings.ToLower(s.SpanKind().String()), traceName(s.SpanContext().TraceID()))
		if s.Parent().IsValid() {
			fmt.Fprintf(&b, "    parent  %s\n", ref(s.Parent()))
		} else {
			fmt.Fprintf(&b, "    parent  none (a root)\n")
		}
		for _, l := range s.Links() {
			fmt.Fprintf(&b, "    link    %s\n", ref(l.SpanContext))
		}
		var attrs []string
		for _, kv := range s.Attributes() {
			switch kv.Key {
			case "wsroute.channel.id", "network.peer.address", "network.peer.port", "wsroute.origin.node":
				continue // differ on every run
			}
			attrs = append(attrs, fmt.Sprintf("%s=%s", kv.Key, kv.Value.String()))
		}
		sort.Strings(attrs)
		if len(attrs) > 0 {
			fmt.Fprintf(&b, "    attrs   %s\n", strings.Join(attrs, " "))
		}
		for _, e := range s.Events() {
			var ea []string
			for _, kv := range e.Attributes {
				ea = append(ea, fmt.Sprintf("%s=%s", kv.Key, kv.Value.String()))
			}
			sort.Strings(ea)
			fmt.Fprintf(&b, "    event   %s %s\n", e.Name, strings.Join(ea, " "))
		}
		fmt.Fprintf(&b, "    status  %s\n", s.Status().Code)
	}
	return b.String()
}
