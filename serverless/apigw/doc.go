// Package apigw imitates Amazon API Gateway WebSocket APIs locally and calls
// their Management API, for wsroute's serverless mode.
//
// # The emulator
//
// An Emulator is an http.Handler that behaves like one stage of a WebSocket
// API whose routes all use a Lambda proxy integration with the same function:
// real WebSocket clients connect to it, and it turns their connects, messages
// and disconnects into events.APIGatewayWebsocketProxyRequest values given to
// a Handler (a Lambda handler's shape) in process. It serves the Management
// API on the same port, so code written for AWS posts to it unchanged.
//
//	emu, _ := apigw.NewEmulator(apigw.EmulatorOptions{Handler: h, RouteKeys: []string{"create"}})
//	srv := &http.Server{Addr: "127.0.0.1:3001", Handler: emu}
//	// clients: ws://127.0.0.1:3001/local
//	// Management API: http://127.0.0.1:3001/local/@connections/{id}
//	// stop: emu.Shutdown(ctx), then srv.Shutdown(ctx)
//
// What it imitates (sources: the API Gateway Developer Guide pages named in
// brackets, under https://docs.aws.amazon.com/apigateway/latest/developerguide/):
//
//   - One URL per stage, /{stage}; the $connect event has no path
//     [apigateway-websocket-api-overview]. Other paths are 404.
//   - $connect runs before the upgrade completes; a 2xx response accepts,
//     any other status refuses the upgrade with that status, headers and
//     body; a handler error or panic is 500 "Internal server error", a
//     handler past the integration timeout 504 "Endpoint request timed out"
//     [apigateway-websocket-api-route-keys-connect-disconnect].
//     A Sec-WebSocket-Protocol header in the $connect response selects the
//     subprotocol [websocket-connect-route-subprotocol].
//   - Only $connect carries headers, multiValueHeaders,
//     queryStringParameters and multiValueQueryStringParameters (the last
//     value in the single-value maps; nil maps when absent); API Gateway's
//     front end adds Host and X-Forwarded-For/-Port/-Proto.
//   - requestContext: routeKey, eventType (CONNECT, MESSAGE, DISCONNECT),
//     messageDirection "IN", connectionId and requestId shaped like AWS's
//     (16 characters of URL-safe base64 ending in "="), extendedRequestId,
//     domainName, stage, apiId, connectedAt and requestTimeEpoch (ms),
//     requestTime, identity.sourceIp and identity.userAgent, messageId on
//     messages, disconnectStatusCode and disconnectReason on $disconnect.
//   - Route selection: the expression ($request.body.action by default; any
//     $request.body.<path>) is evaluated on the JSON body and the result,
//     stringified, is matched exactly against the configured route keys;
//     non-JSON messages, missing or null values and unknown keys go to
//     $default [websocket-api-develop-routes].
//   - A message invocation's response body is not sent to the client unless
//     the route has a route response (EmulatorOptions.TwoWay)
//     [apigateway-websocket-api-route-response]. A failed invocation sends
//     API Gateway's error frame, {"message": "Internal server error",
//     "connectionId":"…", "requestId":"…"} ("Endpoint request timed out"
//     past the timeout), as reported in aws-samples/simple-websockets-chat-app#46
//     and nearst/laconia#41.
//   - Binary frames are refused: the connection closes with 1003
//     [websocket-api-develop-binary-media-types]. (AllowBinary is a non-AWS
//     extension passing them base64-encoded.)
//   - Quotas [apigateway-execution-service-websocket-limits-table]: a client
//     message over 128 KB or a frame over 32 KB closes the connection with
//     1009 "Message too big"; messages posted through @connections go out in
//     frames of at most 32 KB and a POST over 128 KB is refused with 413
//     PayloadTooLargeException; the idle timeout (10 minutes without a
//     message either way) and the 2-hour connection duration close with 1001
//     "Going away"; invocations get a 29 s deadline.
//   - The server sends no pings; it answers the client's pings (which do not
//     count as activity for the idle timeout).
//   - $disconnect after every accepted connection, exactly once, after the
//     close, whatever ended it (client close with its code and reason, idle
//     timeout, duration, DeleteConnection as 1000 "Connection Closed
//     Normally" as reported in aws/chalice#2060, limits, shutdown as 1001,
//     a dropped TCP connection as 1006); its result is ignored
//     [apigateway-websocket-api-route-keys-connect-disconnect].
//   - The Management API [apigateway-how-to-call-websocket-api-connections]:
//     POST, GET and DELETE /{stage}/@connections/{id} (the id may be
//     percent-encoded, e.g. %3D for "="; /@connections/{id} as behind a
//     custom domain). POST sends the raw body as one message (text when it is
//     valid UTF-8, else binary) and answers 200; GET answers
//     {"connectedAt","identity":{"sourceIp","userAgent"},"lastActiveAt"} with
//     ISO 8601 millisecond timestamps; DELETE closes the connection with 1000
//     and answers 204. An unknown or closed id, or one whose $connect has not
//     returned yet, is 410 GoneException [knowledge-center/410-gone-api-gateway].
//     Errors carry x-amzn-ErrorType and a {"message":…} body.
//   - SigV4: every Management API request needs an
//     "Authorization: AWS4-HMAC-SHA256 …" header (else 403
//     MissingAuthenticationTokenException). With EmulatorOptions.Credentials
//     the signature is recomputed with the SDK's signer over the received
//     method, path, query, signed headers and body, for service execute-api
//     and the configured region, and a mismatch, another access key or a
//     clock skew over 15 minutes is 403.
//
// What it does not imitate: several stages or APIs per emulator; per-route
// integrations (one Handler receives every route); $default being optional
// (a message with no matching route and no $default gets {"message":
// "Forbidden", …} on AWS — here $default always exists); authorizers, API
// keys, usage plans, throttling (429 LimitExceededException) and the
// 500-new-connections-per-second quota; mapping templates, non-proxy
// integrations, route response selection; permessage-deflate; the exact
// close reasons API Gateway sends (not documented); the session token's
// validity (it is only signed); header names as sent by the client (Go
// canonicalizes them: Sec-Websocket-Key — look headers up case-insensitively,
// as on AWS one should anyway); Lambda's own behaviour (cold starts,
// concurrency, retries). Events of one connection are invoked one at a
// time in arrival order, which API Gateway does not promise: a handler that
// is correct here may still need to tolerate reordering on AWS. The
// Management API is served over plain HTTP on loopback, without TLS.
//
// # The Management API client
//
// A ManagementClient calls the same three operations against AWS or the
// emulator, signing each request with SigV4 (aws-sdk-go-v2's core signer,
// service "execute-api", the payload's SHA-256), with a bounded timeout and
// no retries. A 410 matches ErrGone with errors.Is; other failures are
// *APIError with the status and the AWS error type.
package apigw
