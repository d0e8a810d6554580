// Command apigw-local runs the API Gateway WebSocket emulator of package
// apigw on a local port, for manual testing and for Lambda handlers that run
// as a separate process.
//
//	go run ./serverless/cmd/apigw-local                      # echo handler
//	go run ./serverless/cmd/apigw-local -invoke http://127.0.0.1:9000/invoke
//
// Clients connect to ws://{addr}/{stage}; the Management API is at
// http://{addr}/{stage}/@connections/{id}.
//
// Without -invoke a built-in echo handler answers: $connect accepts (or
// refuses with ?status=NNN, to try a refused upgrade), every message is posted
// back to its sender through the Management API with the package's
// SigV4-signing client, and $disconnect is logged.
//
// With -invoke every event is POSTed as JSON (an
// events.APIGatewayWebsocketProxyRequest) to that URL, and the answer's JSON
// body is read as the events.APIGatewayProxyResponse; a non-2xx HTTP answer
// counts as a failed invocation. A Go Lambda handler can be served that way
// with a few lines of net/http around it. Embedding the emulator as a library
// (apigw.NewEmulator) invokes the handler in process instead.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/wsroute/wsroute/serverless/apigw"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "apigw-local:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:3001", "listen address")
	stage := flag.String("stage", "local", "stage name: clients connect to /{stage}")
	routes := flag.String("routes", "", "comma-separated custom route keys configured on the API")
	selection := flag.String("route-selection", "$request.body.action", "route selection expression")
	idle := flag.Duration("idle", apigw.DefaultIdleTimeout, "idle connection timeout (API Gateway: 10m)")
	maxDuration := flag.Duration("max-duration", apigw.DefaultMaxDuration, "maximum connection duration (API Gateway: 2h)")
	twoWay := flag.Bool("two-way", false, "send a message invocation's response body to the client (a route response)")
	invoke := flag.String("invoke", "", "URL to POST each event's JSON to (default: the built-in echo handler)")
	accessKey := flag.String("access-key", "", "with -secret-key: the only credentials the Management API accepts (default: any SigV4 header)")
	secretKey := flag.String("secret-key", "", "secret key for -access-key")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var creds *aws.Credentials
	if *accessKey != "" || *secretKey != "" {
		creds = &aws.Credentials{AccessKeyID: *accessKey, SecretAccessKey: *secretKey}
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	endpoint := "http://" + ln.Addr().String() + "/" + *stage

	var handler apigw.Handler
	if *invoke != "" {
		handler = httpInvoker(*invoke)
	} else {
		signWith := apigw.StaticCredentials("AKIDLOCAL", "local", "")
		if creds != nil {
			signWith = apigw.StaticCredentials(creds.AccessKeyID, creds.SecretAccessKey, "")
		}
		mgmt, err := apigw.NewManagementClient(apigw.ManagementOptions{Endpoint: endpoint, Credentials: signWith})
		if err != nil {
			return err
		}
		handler = echoHandler(mgmt, log)
	}

	var keys []string
	for k := range strings.SplitSeq(*routes, ",") {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	emu, err := apigw.NewEmulator(apigw.EmulatorOptions{
		Handler:        handler,
		RouteSelection: *selection,
		RouteKeys:      keys,
		Stage:          *stage,
		IdleTimeout:    *idle,
		MaxDuration:    *maxDuration,
		TwoWay:         *twoWay,
		Credentials:    creds,
		Logger:         log,
	})
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("apigw-local: listening", "websocket", "ws://"+ln.Addr().String()+"/"+*stage, "management", endpoint+"/@connections/{id}")

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = emu.Shutdown(sctx) // the WebSocket connections are hijacked: the emulator closes them
	if err2 := srv.Shutdown(sctx); err == nil {
		err = err2
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// echoHandler posts every message back to its sender.
func echoHandler(mgmt *apigw.ManagementClient, log *slog.Logger) apigw.Handler {
	return func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		rc := ev.RequestContext
		switch rc.EventType {
		case "CONNECT":
			status := 200
			if s, err := strconv.Atoi(ev.QueryStringParameters["status"]); err == nil {
				status = s
			}
			log.Info("$connect", "connectionId", rc.ConnectionID, "query", ev.QueryStringParameters, "status", status)
			return events.APIGatewayProxyResponse{StatusCode: status}, nil
		case "MESSAGE":
			log.Info("message", "connectionId", rc.ConnectionID, "routeKey", rc.RouteKey, "bytes", len(ev.Body))
			if err := mgmt.Post(ctx, rc.ConnectionID, []byte(ev.Body)); err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
		case "DISCONNECT":
			reason := ""
			if rc.DisconnectReason != nil {
				reason = *rc.DisconnectReason
			}
			log.Info("$disconnect", "connectionId", rc.ConnectionID, "code", rc.DisconnectStatusCode, "reason", reason)
		}
		return events.APIGatewayProxyResponse{StatusCode: 200}, nil
	}
}

// httpInvoker POSTs the event's JSON to url and reads the response JSON.
func httpInvoker(url string) apigw.Handler {
	client := &http.Client{}
	return func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		var resp events.APIGatewayProxyResponse
		b, err := json.Marshal(ev)
		if err != nil {
			return resp, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
		if err != nil {
			return resp, err
		}
		req.Header.Set("Content-Type", "application/json")
		r, err := client.Do(req)
		if err != nil {
			return resp, err
		}
		defer r.Body.Close()
		body, err := io.ReadAll(io.LimitReader(r.Body, 6<<20)) // Lambda's response payload quota
		if err != nil {
			return resp, err
		}
		if r.StatusCode < 200 || r.StatusCode > 299 {
			return resp, fmt.Errorf("invoke %s: %s: %.200s", url, r.Status, body)
		}
		if err := json.Unmarshal(body, &resp); err != nil {
			return resp, fmt.Errorf("invoke %s: decoding the response: %w", url, err)
		}
		return resp, nil
	}
}
