package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/otelwsroute"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// telemetry is the demo's OpenTelemetry wiring: metrics served at /metrics
// in the Prometheus text format (-metrics), traces sent to an OTLP/HTTP
// endpoint (-otlp), both through otelwsroute's Observer.
type telemetry struct {
	observer *wsroute.Observer // nil when neither is on
	metrics  http.Handler      // the /metrics handler, nil without -metrics
	shutdown []func(context.Context) error
}

// newTelemetry sets up what the flags ask for. otlp is an OTLP/HTTP traces
// endpoint URL such as http://127.0.0.1:4318/v1/traces ("" for none).
func newTelemetry(ctx context.Context, metrics bool, otlp string) (*telemetry, error) {
	tel := &telemetry{}
	if !metrics && otlp == "" {
		return tel, nil
	}
	res := resource.NewSchemaless(attribute.String("service.name", "wsroute-todos"))
	cfg := otelwsroute.Config{
		Propagator: propagation.TraceContext{},
		// The demo has one topic, "todos": it may name metrics and
		// delivery spans. An app with topics per room would return the
		// pattern ("rooms/{room}") instead.
		TopicAttribute: func(topic string) string { return topic },
	}
	if metrics {
		reg := prometheus.NewRegistry()
		exp, err := otelprom.New(otelprom.WithRegisterer(reg))
		if err != nil {
			return nil, err
		}
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res))
		cfg.MeterProvider = mp
		tel.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		tel.shutdown = append(tel.shutdown, mp.Shutdown)
	}
	if otlp != "" {
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(otlp))
		if err != nil {
			return nil, err
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		cfg.TracerProvider = tp
		tel.shutdown = append(tel.shutdown, tp.Shutdown)
	}
	obs, err := otelwsroute.New(cfg)
	if err != nil {
		return nil, err
	}
	tel.observer = obs
	return tel, nil
}

// logHandler adds trace and span ids to the demo's logs when tracing is on.
func (t *telemetry) logHandler(h slog.Handler) slog.Handler {
	if t == nil || t.observer == nil {
		return h
	}
	return otelwsroute.NewLogHandler(h)
}

// close flushes and stops the exporters.
func (t *telemetry) close(ctx context.Context) error {
	if t == nil {
		return nil
	}
	var errs []error
	for _, f := range t.shutdown {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}
