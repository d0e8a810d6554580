package apigw

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// SigningService is the SigV4 service name of the Management API.
const SigningService = "execute-api"

// ManagementOptions configures a ManagementClient.
type ManagementOptions struct {
	// Endpoint is the stage's callback URL:
	// https://{api-id}.execute-api.{region}.amazonaws.com/{stage} on AWS (a
	// custom domain with its base path works too), or the emulator's
	// http://127.0.0.1:{port}/{stage}. ws:// and wss:// are read as http://
	// and https://. Required.
	Endpoint string
	// Region signs the requests. Default: the region in an execute-api host
	// name, else $AWS_REGION, else us-east-1 (what the emulator expects by
	// default).
	Region string
	// Credentials sign every request (SigV4, service "execute-api"). Required.
	// It is wrapped in an aws.CredentialsCache unless it already is one. In a
	// Lambda function EnvCredentials reads the function's role credentials.
	Credentials aws.CredentialsProvider
	// HTTPClient sends the requests. Default: a client with a 10 s timeout.
	HTTPClient *http.Client
	// Timeout bounds each call, signing included. Default 10 s.
	Timeout time.Duration
}

// ConnectionInfo is GetConnection's answer.
type ConnectionInfo struct {
	ConnectedAt  time.Time
	LastActiveAt time.Time
	SourceIP     string
	UserAgent    string
}

// ManagementClient calls the API Gateway Management API
// (POST/GET/DELETE {endpoint}/@connections/{id}) with SigV4-signed requests,
// against AWS or the Emulator. It is safe for concurrent use. It does not
// retry: a 410 is final, and the caller decides about the rest.
type ManagementClient struct {
	base    *url.URL
	region  string
	creds   aws.CredentialsProvider
	http    *http.Client
	timeout time.Duration
	signer  *v4.Signer
}

// NewManagementClient checks the options and returns a client.
func NewManagementClient(o ManagementOptions) (*ManagementClient, error) {
	if o.Endpoint == "" {
		return nil, errors.New("apigw: ManagementOptions.Endpoint is required")
	}
	if o.Credentials == nil {
		return nil, errors.New("apigw: ManagementOptions.Credentials is required")
	}
	u, err := url.Parse(strings.TrimRight(o.Endpoint, "/"))
	if err != nil {
		return nil, fmt.Errorf("apigw: endpoint: %w", err)
	}
	switch u.Scheme {
	case "wss":
		u.Scheme = "https"
	case "ws":
		u.Scheme = "http"
	case "http", "https":
	default:
		return nil, fmt.Errorf("apigw: endpoint %q: scheme must be http or https", o.Endpoint)
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("apigw: endpoint %q: want scheme://host[/stage]", o.Endpoint)
	}
	region := o.Region
	if region == "" {
		region = regionFromHost(u.Hostname())
	}
	if region == "" {
		region = os.Getenv("AWS_REGION")
	}
	if region == "" {
		region = "us-east-1"
	}
	creds := o.Credentials
	if _, ok := creds.(*aws.CredentialsCache); !ok {
		creds = aws.NewCredentialsCache(creds)
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &ManagementClient{base: u, region: region, creds: creds, http: hc, timeout: timeout, signer: v4.NewSigner()}, nil
}

// regionFromHost reads {region} from {api}.execute-api.{region}.amazonaws.com.
func regionFromHost(host string) string {
	parts := strings.Split(host, ".")
	if len(parts) >= 4 && parts[1] == "execute-api" {
		return parts[2]
	}
	return ""
}

// Post sends data to the connection as one WebSocket message
// (PostToConnection). A 410 matches ErrGone.
func (m *ManagementClient) Post(ctx context.Context, id string, data []byte) error {
	_, err := m.do(ctx, "PostToConnection", http.MethodPost, id, data)
	return err
}

// Delete closes the connection (DeleteConnection); API Gateway then invokes
// $disconnect. A 410 matches ErrGone.
func (m *ManagementClient) Delete(ctx context.Context, id string) error {
	_, err := m.do(ctx, "DeleteConnection", http.MethodDelete, id, nil)
	return err
}

// Get describes the connection (GetConnection). A 410 matches ErrGone.
func (m *ManagementClient) Get(ctx context.Context, id string) (ConnectionInfo, error) {
	body, err := m.do(ctx, "GetConnection", http.MethodGet, id, nil)
	if err != nil {
		return ConnectionInfo{}, err
	}
	var w wireConnection
	if err := json.Unmarshal(body, &w); err != nil {
		return ConnectionInfo{}, fmt.Errorf("apigw: GetConnection %s: decoding the answer: %w", id, err)
	}
	return ConnectionInfo{ConnectedAt: w.ConnectedAt, LastActiveAt: w.LastActiveAt, SourceIP: w.Identity.SourceIP, UserAgent: w.Identity.UserAgent}, nil
}

// wireConnection is GetConnection's JSON (restJson1: lower-camel names,
// ISO 8601 timestamps).
type wireConnection struct {
	ConnectedAt time.Time `json:"connectedAt"`
	Identity    struct {
		SourceIP  string `json:"sourceIp"`
		UserAgent string `json:"userAgent"`
	} `json:"identity"`
	LastActiveAt time.Time `json:"lastActiveAt"`
}

// maxAnswer bounds what is read of an answer.
const maxAnswer = 64 << 10

func (m *ManagementClient) do(ctx context.Context, op, method, id string, body []byte) ([]byte, error) {
	if id == "" {
		return nil, fmt.Errorf("apigw: %s: empty connection id", op)
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()

	u := *m.base
	u.Path = m.base.Path + "/@connections/" + id
	u.RawPath = m.base.EscapedPath() + "/@connections/" + escapeSegment(id)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("apigw: %s %s: %w", op, id, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	creds, err := m.creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("apigw: %s %s: credentials: %w", op, id, err)
	}
	sum := sha256.Sum256(body)
	if err := m.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), SigningService, m.region, time.Now()); err != nil {
		return nil, fmt.Errorf("apigw: %s %s: signing: %w", op, id, err)
	}
	resp, err := m.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("apigw: %s %s: %w", op, id, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("apigw: %s %s: reading the answer: %w", op, id, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return answer, nil
	}
	return nil, decodeAPIError(op, id, resp, answer)
}

func decodeAPIError(op, id string, resp *http.Response, body []byte) *APIError {
	e := &APIError{Op: op, ConnectionID: id, StatusCode: resp.StatusCode, RequestID: resp.Header.Get("X-Amzn-Requestid")}
	var b struct {
		Message  *string `json:"message"`
		Message2 *string `json:"Message"`
		Type     string  `json:"__type"`
	}
	if json.Unmarshal(body, &b) == nil {
		switch {
		case b.Message != nil:
			e.Message = *b.Message
		case b.Message2 != nil:
			e.Message = *b.Message2
		}
		e.Type = b.Type
	}
	if t := resp.Header.Get("X-Amzn-Errortype"); t != "" {
		e.Type = t
	}
	if i := strings.IndexAny(e.Type, ":#"); i >= 0 { // "GoneException:http://…" or "ns#GoneException"
		if e.Type[i] == '#' {
			e.Type = e.Type[i+1:]
		} else {
			e.Type = e.Type[:i]
		}
	}
	if e.Type == "" {
		e.Type = http.StatusText(resp.StatusCode)
	}
	return e
}

// escapeSegment percent-encodes all but RFC 3986's unreserved characters, as
// the AWS SDKs encode a URI label: API Gateway's ids end in "=", which
// becomes %3D (the documented example is …/%40connections/R0oXAdfD0kwCH6w%3D).
func escapeSegment(s string) string {
	const hexdigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexdigits[c>>4])
		b.WriteByte(hexdigits[c&15])
	}
	return b.String()
}

// EnvCredentials reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN, which is how a Lambda function receives its execution
// role's credentials (the SDK's config module, which does this and more, is
// not a dependency of this module).
func EnvCredentials() aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		c := aws.Credentials{
			AccessKeyID:     os.Getenv("AWS_ACCESS_KEY_ID"),
			SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
			SessionToken:    os.Getenv("AWS_SESSION_TOKEN"),
			Source:          "EnvCredentials",
		}
		if c.AccessKeyID == "" || c.SecretAccessKey == "" {
			return aws.Credentials{}, errors.New("apigw: AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is not set")
		}
		return c, nil
	})
}

// StaticCredentials returns fixed credentials, e.g. the pair an Emulator is
// configured to verify.
func StaticCredentials(accessKeyID, secretAccessKey, sessionToken string) aws.CredentialsProvider {
	c := aws.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: secretAccessKey, SessionToken: sessionToken, Source: "StaticCredentials"}
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return c, nil })
}
