package wsroute_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

type Todo struct {
	Title string `json:"title"`
}

type CreateTodo struct {
	Title string `json:"title"`
}

type Created struct {
	Todo Todo `json:"todo"`
}

// The lifecycle of one message, end to end, in memory: routing on "action",
// the session check, schema validation, the typed handler and the reply with
// "action" and "ref" merged in.
func Example() {
	r := wsroute.New(wsroute.Options{})
	todos := r.Channel("/todos", wsroute.ChannelConfig{
		Public: true, // opening needs no session; messages do
		Authenticator: wsroute.TokenAuth{Check: func(_ context.Context, c *wsroute.Channel, token string) error {
			if token != "secret" {
				return errors.New("unknown token")
			}
			c.SetSession("alice")
			return nil
		}},
	})
	wsroute.Handle(todos, "create", func(_ context.Context, c *wsroute.Channel, in CreateTodo) (Created, error) {
		return Created{Todo: Todo(in)}, nil
	}, wsroute.RouteConfig{Schema: wsroute.SchemaString(`{
		"type": "object",
		"properties": {"title": {"type": "string", "minLength": 1}},
		"required": ["title"],
		"additionalProperties": false
	}`)})

	ctx := context.Background()
	for _, target := range []string{"/todos", "/todos?token=secret"} {
		c, _ := wsroutetest.Dial(ctx, r, target, nil)
		_ = c.SendText(`{"action":"create","ref":1,"title":"milk"}`)
		_ = c.SendText(`{"action":"create","ref":2,"title":""}`)
		frames, _ := c.Received(ctx)
		for _, f := range frames {
			fmt.Println(string(f))
		}
		c.Drop()
	}
	_ = r.Shutdown(ctx)
	// Output:
	// {"action":"create","ref":1,"error":{"code":"unauthenticated","message":"authentication required"}}
	// {"action":"create","ref":2,"error":{"code":"unauthenticated","message":"authentication required"}}
	// {"action":"create","ref":1,"todo":{"title":"milk"}}
	// {"action":"create","ref":2,"error":{"code":"invalid","message":"input is invalid","details":[{"pointer":"/title","message":"minLength: got 0, want 1"}]}}
}

// The three shapes of a reply: an object is merged with the route key and
// ref, nil is an acknowledgement, anything else is wrapped in "result".
func ExampleHandle() {
	r := wsroute.New(wsroute.Options{})
	ch := r.Channel("/", wsroute.ChannelConfig{Public: true})
	public := wsroute.RouteConfig{Public: true}
	wsroute.Handle(ch, "object", func(context.Context, *wsroute.Channel, struct{}) (Todo, error) {
		return Todo{Title: "milk"}, nil
	}, public)
	wsroute.Handle(ch, "ack", func(context.Context, *wsroute.Channel, struct{}) (*Todo, error) {
		return nil, nil
	}, public)
	wsroute.Handle(ch, "list", func(context.Context, *wsroute.Channel, struct{}) ([]string, error) {
		return []string{"milk", "eggs"}, nil
	}, public)
	wsroute.Handle(ch, "quiet", func(context.Context, *wsroute.Channel, struct{}) (*Todo, error) {
		return nil, wsroute.ErrNoReply
	}, public)
	wsroute.Handle(ch, "limited", func(context.Context, *wsroute.Channel, struct{}) (*Todo, error) {
		return nil, wsroute.NewError("quota_exceeded", "ten todos at most")
	}, public)

	ctx := context.Background()
	c, _ := wsroutetest.Dial(ctx, r, "/", nil)
	for _, action := range []string{"object", "ack", "list", "quiet", "limited"} {
		_ = c.SendText(`{"action":"` + action + `","ref":"r"}`)
	}
	frames, _ := c.Received(ctx)
	for _, f := range frames {
		fmt.Println(string(f))
	}
	_ = r.Shutdown(ctx)
	// Output:
	// {"action":"object","ref":"r","title":"milk"}
	// {"action":"ack","ref":"r"}
	// {"action":"list","ref":"r","result":["milk","eggs"]}
	// {"action":"limited","ref":"r","error":{"code":"quota_exceeded","message":"ten todos at most"}}
}

// The default handler receives what names no route, even text that is not JSON.
func ExampleHandleDefaultReply() {
	r := wsroute.New(wsroute.Options{})
	ch := r.Channel("/", wsroute.ChannelConfig{Public: true})
	wsroute.HandleDefaultReply(ch, func(_ context.Context, _ *wsroute.Channel, m *wsroute.Message) (any, error) {
		if !m.IsJSON() {
			return map[string]string{"text": string(m.Data())}, nil
		}
		return map[string]any{"echo": m.Input()}, nil
	}, wsroute.RouteConfig{Public: true})

	ctx := context.Background()
	c, _ := wsroutetest.Dial(ctx, r, "/", nil)
	_ = c.SendText(`{"type":"ping"}`)
	_ = c.SendText(`hello`)
	frames, _ := c.Received(ctx)
	for _, f := range frames {
		fmt.Println(string(f))
	}
	_ = r.Shutdown(ctx)
	// Output:
	// {"echo":{"type":"ping"}}
	// {"text":"hello"}
}

// Publish fans an event out to every subscriber but the excluded channel.
func ExampleRouter_Publish() {
	r := wsroute.New(wsroute.Options{})
	ch := r.Channel("/", wsroute.ChannelConfig{Public: true,
		OnConnect: func(_ context.Context, c *wsroute.Channel) error { return c.Subscribe("news") }})
	wsroute.Handle(ch, "post", func(ctx context.Context, c *wsroute.Channel, in Todo) (*Todo, error) {
		return nil, c.Router().Publish(ctx, "news", in, wsroute.PublishOptions{Exclude: c})
	}, wsroute.RouteConfig{Public: true})

	ctx := context.Background()
	alice, _ := wsroutetest.Dial(ctx, r, "/", nil)
	bob, _ := wsroutetest.Dial(ctx, r, "/", nil)
	_ = alice.SendText(`{"action":"post","title":"hello"}`)
	a, _ := alice.Received(ctx)
	b, _ := bob.Received(ctx)
	fmt.Printf("alice: %s\nbob: %s\n", a, b)
	_ = r.Shutdown(ctx)
	// Output:
	// alice: [{"action":"post"}]
	// bob: [{"topic":"news","data":{"title":"hello"}}]
}

// Permissions compose; they see the session and the raw input.
func ExampleAllOf() {
	loggedIn := func(_ context.Context, c *wsroute.Channel, _ *wsroute.Message) error {
		if !c.HasSession() {
			return wsroute.NewError(wsroute.CodeUnauthenticated, "log in first")
		}
		return nil
	}
	isAdmin := func(_ context.Context, c *wsroute.Channel, _ *wsroute.Message) error {
		if role, _ := wsroute.SessionAs[string](c); role != "admin" {
			return wsroute.NewError(wsroute.CodeForbidden, "admins only")
		}
		return nil
	}
	r := wsroute.New(wsroute.Options{})
	r.Channel("/admin", wsroute.ChannelConfig{
		Authenticator: wsroute.TokenAuth{Check: func(_ context.Context, c *wsroute.Channel, token string) error {
			c.SetSession(token) // a real app looks the token up
			return nil
		}},
		Permissions: wsroute.AllOf(loggedIn, isAdmin),
	})
	ctx := context.Background()
	for _, token := range []string{"", "guest", "admin"} {
		_, err := wsroutetest.Dial(ctx, r, "/admin", &wsroutetest.DialOptions{
			Header: http.Header{"Authorization": {"Bearer " + token}},
		})
		fmt.Printf("%q: %v\n", token, err)
	}
	_ = r.Shutdown(ctx)
	// Output:
	// "": wsroutetest: opening refused with 401 unauthenticated: authentication required
	// "guest": wsroutetest: opening refused with 403 forbidden: admins only
	// "admin": <nil>
}

// The registry: what a Router runs, as data, for documentation and code
// generation.
func ExampleRouter_Walk() {
	r := wsroute.New(wsroute.Options{})
	todos := r.Channel("/lists/{list}", wsroute.ChannelConfig{Name: "todos", Public: true})
	wsroute.Handle(todos, "create", func(_ context.Context, _ *wsroute.Channel, in CreateTodo) (Created, error) {
		return Created{Todo: Todo(in)}, nil
	}, wsroute.RouteConfig{Summary: "Create a todo", Schema: wsroute.SchemaString(`{"type":"object","required":["title"]}`)})
	_ = r.Walk(func(ch wsroute.ChannelInfo) error {
		fmt.Println(ch.Name, ch.Pattern, ch.Params, ch.RouteKey, ch.RefKey)
		for _, rt := range ch.Routes {
			src, _ := rt.Schema.Source()
			fmt.Printf("  %s %q: %v → %v, schema %s\n", rt.Name, rt.Summary, rt.Input, rt.Output, src)
		}
		return nil
	})
	// Output:
	// todos /lists/{list} [list] action ref
	//   create "Create a todo": wsroute_test.CreateTodo → wsroute_test.Created, schema {"type":"object","required":["title"]}
}
