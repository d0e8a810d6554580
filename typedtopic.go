package wsroute

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Topic is a declared topic whose events carry a T: its publishes are
// typed, and it is part of the registry (Router.WalkTopics), so tools can
// describe its events. Declare it once, before serving:
//
//	todos := wsroute.NewTopic[TodoEvent](r, "todos")
//	rooms := wsroute.NewTopic[ChatEvent](r, "rooms/{room}")
//
//	err := todos.Publish(ctx, TodoEvent{...})
//	err := rooms.At("lobby").Subscribe(c)
//
// A pattern's {name} segments are parameters, filled in order by At. The
// events are the same frames as Router.Publish's —
// {"topic":"rooms/lobby","data":<T>} — and the plain string API stays for
// topics known only at run time.
type Topic[T any] struct {
	r     *Router
	info  TopicInfo
	segs  []string // the pattern's segments
	slots []int    // the indexes in segs of the parameters, in order
}

// TopicConfig documents a declared topic. Optional.
type TopicConfig struct {
	Summary, Description string
	// Channels names the channel routes (ChannelConfig.Name) whose
	// connections subscribe to the topic, for documents built from the
	// registry (AsyncAPI): the topic's events are described on those
	// channels only. Empty: on every channel. It restricts nothing at run
	// time.
	Channels []string
}

// TopicInfo describes a declared topic (see Router.WalkTopics).
type TopicInfo struct {
	Pattern     string       // as declared: "rooms/{room}"
	Params      []string     // its parameters in order: ["room"]
	Summary     string       // TopicConfig.Summary
	Description string       // TopicConfig.Description
	Channels    []string     // TopicConfig.Channels
	Payload     reflect.Type // the T of the events' "data"
}

// NewTopic declares the topic pattern on r with events of type T. It panics
// if the pattern is empty, reserved, malformed ({} or an unclosed brace, a
// parameter that is not a whole segment, one named twice) or already
// declared, or if r serves already.
func NewTopic[T any](r *Router, pattern string, cfg ...TopicConfig) *Topic[T] {
	where := fmt.Sprintf("wsroute: topic %q", pattern)
	if len(cfg) > 1 {
		panic(where + ": more than one TopicConfig")
	}
	params, err := topicParams(pattern)
	if err == nil {
		err = checkTopic(pattern)
	}
	if err != nil {
		panic(fmt.Sprintf("%s: %v", where, err))
	}
	r.regMu.Lock()
	defer r.regMu.Unlock()
	r.mustNotServe(where)
	for _, t := range r.topics {
		if t.Pattern == pattern {
			panic(where + ": declared twice")
		}
	}
	info := TopicInfo{Pattern: pattern, Params: params, Payload: reflect.TypeFor[T]()}
	if len(cfg) == 1 {
		info.Summary, info.Description = cfg[0].Summary, cfg[0].Description
		info.Channels = slices.Clone(cfg[0].Channels)
	}
	r.topics = append(r.topics, info)
	t := &Topic[T]{r: r, info: info, segs: strings.Split(pattern, "/")}
	for i, seg := range t.segs {
		if strings.HasPrefix(seg, "{") {
			t.slots = append(t.slots, i)
		}
	}
	return t
}

// topicParams returns the parameters of a topic pattern, whose segments
// (separated by '/') are either literal or a whole "{name}".
func topicParams(pattern string) ([]string, error) {
	if pattern == "" {
		return nil, fmt.Errorf("empty pattern")
	}
	var params []string
	for _, seg := range strings.Split(pattern, "/") {
		open, close := strings.Contains(seg, "{"), strings.Contains(seg, "}")
		if !open && !close {
			continue
		}
		name, ok := strings.CutPrefix(seg, "{")
		name, ok2 := strings.CutSuffix(name, "}")
		if !ok || !ok2 || name == "" || strings.ContainsAny(name, "{}") {
			return nil, fmt.Errorf("segment %q: a parameter is a whole segment {name}", seg)
		}
		for _, p := range params {
			if p == name {
				return nil, fmt.Errorf("parameter %q appears twice", name)
			}
		}
		params = append(params, name)
	}
	return params, nil
}

// Info returns what the registry tells about the topic.
func (t *Topic[T]) Info() TopicInfo { return t.info }

// At returns the topic with its parameters filled, in the pattern's order:
// rooms.At("lobby") is "rooms/lobby". A value may not be empty or hold a
// '/'; a wrong count or value makes every method of the result fail.
func (t *Topic[T]) At(values ...string) BoundTopic[T] {
	if len(values) != len(t.slots) {
		return BoundTopic[T]{t: t, err: fmt.Errorf("wsroute: topic %q takes %d parameters, got %d", t.info.Pattern, len(t.slots), len(values))}
	}
	if len(values) == 0 {
		return BoundTopic[T]{t: t, name: t.info.Pattern}
	}
	segs := append([]string(nil), t.segs...)
	for n, i := range t.slots {
		v := values[n]
		if v == "" || strings.Contains(v, "/") {
			return BoundTopic[T]{t: t, err: fmt.Errorf("wsroute: topic %q: parameter %s = %q: values are non-empty and hold no '/'", t.info.Pattern, t.info.Params[n], v)}
		}
		segs[i] = v
	}
	return BoundTopic[T]{t: t, name: strings.Join(segs, "/")}
}

// Publish publishes ev on a topic without parameters (see BoundTopic.Publish).
func (t *Topic[T]) Publish(ctx context.Context, ev T, opts ...PublishOptions) error {
	return t.At().Publish(ctx, ev, opts...)
}

// Subscribe subscribes c to a topic without parameters (see Channel.Subscribe).
func (t *Topic[T]) Subscribe(c *Channel) error { return t.At().Subscribe(c) }

// Unsubscribe unsubscribes c from a topic without parameters.
func (t *Topic[T]) Unsubscribe(c *Channel) { t.At().Unsubscribe(c) }

// BoundTopic is a declared topic with its parameters filled (Topic.At).
type BoundTopic[T any] struct {
	t    *Topic[T]
	name string
	err  error
}

// Name returns the topic's name, e.g. "rooms/lobby", or "" if At failed.
func (b BoundTopic[T]) Name() string { return b.name }

// Err returns why At failed, or nil.
func (b BoundTopic[T]) Err() error { return b.err }

// Publish sends ev as {"topic":<name>,"data":<ev>} to the topic's
// subscribers on every node, as Router.Publish does.
func (b BoundTopic[T]) Publish(ctx context.Context, ev T, opts ...PublishOptions) error {
	if b.err != nil {
		return b.err
	}
	var o PublishOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	return b.t.r.Publish(ctx, b.name, ev, o)
}

// Subscribe subscribes c to the topic, as Channel.Subscribe does.
func (b BoundTopic[T]) Subscribe(c *Channel) error {
	if b.err != nil {
		return b.err
	}
	return c.Subscribe(b.name)
}

// Unsubscribe unsubscribes c from the topic, as Channel.Unsubscribe does.
func (b BoundTopic[T]) Unsubscribe(c *Channel) {
	if b.err == nil {
		c.Unsubscribe(b.name)
	}
}

// WalkTopics calls fn for every declared topic of r, in declaration order,
// and stops at the first error fn returns, which it returns.
func (r *Router) WalkTopics(fn func(TopicInfo) error) error {
	r.regMu.Lock()
	topics := append([]TopicInfo(nil), r.topics...)
	r.regMu.Unlock()
	for _, t := range topics {
		t.Params = slices.Clone(t.Params)
		t.Channels = slices.Clone(t.Channels)
		if err := fn(t); err != nil {
			return err
		}
	}
	return nil
}
