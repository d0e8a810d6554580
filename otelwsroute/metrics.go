package otelwsroute

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// instruments are the metrics; see the package documentation.
//
// The sums are kept by the observer in atomic cells, one per attribute
// set, and reported through observable instruments when a reader collects:
// a message then costs an atomic add per sum instead of a pass through the
// SDK's attribute handling and aggregation. Only the duration histogram is
// recorded synchronously (and so can carry exemplars).
type instruments struct {
	open, subs                                   *counter // up-down
	refused, closes, messages, bytesIn, bytesOut *counter
	published, delivered, brokerErrors           *counter
	duration                                     metric.Float64Histogram
}

// counter is a cumulative sum per attribute set, reported by an observable
// instrument.
type counter struct {
	inst  metric.Int64Observable
	mu    sync.Mutex
	cells map[attribute.Distinct]*cell
}

// cell is one attribute set's value; one never added to is not reported.
type cell struct {
	n    atomic.Int64
	used atomic.Bool
	opts []metric.ObserveOption
}

func (c *cell) add(n int64) {
	c.n.Add(n)
	if !c.used.Load() {
		c.used.Store(true)
	}
}

// cell returns the cell of set, made at its first use. Callers keep it:
// this takes a lock.
func (c *counter) cell(set attribute.Set) *cell {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := set.Equivalent()
	if cl, ok := c.cells[k]; ok {
		return cl
	}
	cl := &cell{opts: []metric.ObserveOption{metric.WithAttributeSet(set)}}
	c.cells[k] = cl
	return cl
}

func (c *counter) observe(o metric.Observer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.cells {
		if !cl.used.Load() {
			continue
		}
		o.ObserveInt64(c.inst, cl.n.Load(), cl.opts...)
	}
}

// durationBuckets (seconds) reach below the semantic conventions' HTTP
// buckets: most messages take well under a millisecond.
var durationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

func (in *instruments) init(m metric.Meter) error {
	var errs []error
	var all []*counter
	sum := func(upDown bool, name, unit, desc string) *counter {
		c := &counter{cells: map[attribute.Distinct]*cell{}}
		var err error
		if upDown {
			c.inst, err = m.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		} else {
			c.inst, err = m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		}
		errs = append(errs, err)
		all = append(all, c)
		return c
	}
	in.open = sum(true, "wsroute.channels.open", "{channel}", "Channels open now.")
	in.subs = sum(true, "wsroute.subscriptions", "{subscription}", "Subscriptions of channels to topics now.")
	in.refused = sum(false, "wsroute.opens.refused", "{opening}", "Openings refused.")
	in.closes = sum(false, "wsroute.closes", "{channel}", "Channels closed.")
	in.messages = sum(false, "wsroute.messages", "{message}", "Inbound frames handled.")
	in.bytesIn = sum(false, "wsroute.message.bytes_in", "By", "Bytes of inbound frames handled.")
	in.bytesOut = sum(false, "wsroute.message.bytes_out", "By", "Bytes of the replies and error frames queued for them.")
	in.published = sum(false, "wsroute.events.published", "{event}", "Router.Publish calls.")
	in.delivered = sum(false, "wsroute.events.delivered", "{event}", "Events queued for this node's subscribers.")
	in.brokerErrors = sum(false, "wsroute.broker.errors", "{error}", "Failed Broker calls.")
	var err error
	in.duration, err = m.Float64Histogram("wsroute.message.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from an inbound frame's classification to its reply being queued."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	insts := make([]metric.Observable, len(all))
	for i, c := range all {
		insts[i] = c.inst
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, c := range all {
			c.observe(o)
		}
		return nil
	}, insts...)
	return err
}
