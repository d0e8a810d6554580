package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"
	"github.com/wsroute/wsroute/serverless/apigw"
)

// serve runs an emulator with handler h and returns its base URL.
func serve(t *testing.T, h func(endpoint string) apigw.Handler) string {
	t.Helper()
	var handler apigw.Handler
	emu, err := apigw.NewEmulator(apigw.EmulatorOptions{Handler: func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		return handler(ctx, ev)
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	handler = h(srv.URL + "/local")
	t.Cleanup(func() {
		_ = emu.Close()
		srv.Close()
	})
	return srv.URL
}

func dialAndEcho(t *testing.T, base string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/local", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"action":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	_, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = ws.Close(websocket.StatusNormalClosure, "")
	return string(b)
}

func TestEchoHandlerPostsBackThroughTheManagementAPI(t *testing.T) {
	base := serve(t, func(endpoint string) apigw.Handler {
		mgmt, err := apigw.NewManagementClient(apigw.ManagementOptions{Endpoint: endpoint, Credentials: apigw.StaticCredentials("a", "b", "")})
		if err != nil {
			t.Fatal(err)
		}
		return echoHandler(mgmt, slog.New(slog.DiscardHandler))
	})
	if got := dialAndEcho(t, base); got != `{"action":"ping"}` {
		t.Fatalf("echo: %q", got)
	}
}

func TestHTTPInvoker(t *testing.T) {
	lambda := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			http.Error(w, "function error", http.StatusInternalServerError)
			return
		}
		var ev events.APIGatewayWebsocketProxyRequest
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &ev); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		resp := events.APIGatewayProxyResponse{StatusCode: 200}
		if ev.RequestContext.EventType == "MESSAGE" {
			resp.Body = "from lambda: " + ev.RequestContext.RouteKey
		}
		_ = json.NewEncoder(w).Encode(resp)
	}))
	defer lambda.Close()
	inv := httpInvoker(lambda.URL)
	ev := events.APIGatewayWebsocketProxyRequest{RequestContext: events.APIGatewayWebsocketProxyRequestContext{EventType: "MESSAGE", RouteKey: "$default"}}
	resp, err := inv(context.Background(), ev)
	if err != nil || resp.Body != "from lambda: $default" {
		t.Fatalf("%+v %v", resp, err)
	}
	if _, err := httpInvoker(lambda.URL+"/fail")(context.Background(), ev); err == nil {
		t.Fatal("a 500 counted as success")
	}
}
