package apigw

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// maxClockSkew is how far X-Amz-Date may be from the emulator's clock, as AWS
// allows (15 minutes).
const maxClockSkew = 15 * time.Minute

// authError is a refused Management API request: 403 with AWS's error type.
type authError struct {
	typ, msg string
}

func (e *authError) Error() string { return e.typ + ": " + e.msg }

var errMissingAuth = &authError{"MissingAuthenticationTokenException", "Missing Authentication Token"}

// sigV4Auth is a parsed "Authorization: AWS4-HMAC-SHA256 …" header.
type sigV4Auth struct {
	accessKeyID, date, region, service string
	signedHeaders                      string
	signature                          string
}

func parseAuthorization(h string) (sigV4Auth, error) {
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(h, algo) {
		return sigV4Auth{}, errMissingAuth
	}
	var a sigV4Auth
	for part := range strings.SplitSeq(h[len(algo):], ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) != 5 || f[4] != "aws4_request" {
				return sigV4Auth{}, &authError{"IncompleteSignatureException", "malformed Credential: " + v}
			}
			a.accessKeyID, a.date, a.region, a.service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			a.signedHeaders = v
		case "Signature":
			a.signature = v
		}
	}
	if a.accessKeyID == "" || a.signedHeaders == "" || a.signature == "" {
		return sigV4Auth{}, &authError{"IncompleteSignatureException", "Authorization header requires Credential, SignedHeaders and Signature"}
	}
	return a, nil
}

// verifySigV4 checks a Management API request. Without credentials it only
// requires a well-formed SigV4 Authorization header; with them it signs the
// received request again with the SDK's signer (same method, raw path,
// query, signed headers, payload hash and X-Amz-Date) and compares the
// signatures, so a tampered path, body or header fails.
func verifySigV4(r *http.Request, body []byte, creds *aws.Credentials, region string, now time.Time) error {
	a, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	if creds == nil {
		return nil
	}
	if a.accessKeyID != creds.AccessKeyID {
		return &authError{"UnrecognizedClientException", "The security token included in the request is invalid."}
	}
	if a.service != SigningService || a.region != region {
		return &authError{"InvalidSignatureException", "Credential should be scoped to a valid region (" + region + ") and service (" + SigningService + "), not " + a.region + "/" + a.service}
	}
	t, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || !strings.HasPrefix(r.Header.Get("X-Amz-Date"), a.date) {
		return &authError{"IncompleteSignatureException", "missing or malformed X-Amz-Date"}
	}
	if d := now.Sub(t); d > maxClockSkew || d < -maxClockSkew {
		return &authError{"InvalidSignatureException", "Signature expired: " + t.Format(time.RFC3339) + " is not within 15 minutes of the server's time"}
	}

	// Rebuild the request as the client signed it: only its signed headers.
	req, err := http.NewRequestWithContext(context.Background(), r.Method, "http://"+r.Host+r.RequestURI, bytes.NewReader(body))
	if err != nil {
		return &authError{"InvalidSignatureException", "cannot parse the request URI"}
	}
	if len(body) == 0 {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	req.Host = r.Host
	for _, name := range strings.Split(a.signedHeaders, ";") {
		switch name {
		case "host", "content-length", "x-amz-date":
			continue // from r.Host, the body, signingTime
		}
		if v, ok := r.Header[http.CanonicalHeaderKey(name)]; ok {
			req.Header[http.CanonicalHeaderKey(name)] = v
		}
	}
	c := *creds
	c.SessionToken = "" // signed as a header if the client sent one; not compared
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), c, req, hex.EncodeToString(sum[:]), a.service, a.region, t); err != nil {
		return &authError{"InvalidSignatureException", err.Error()}
	}
	want, err := parseAuthorization(req.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	if want.signedHeaders != a.signedHeaders || subtle.ConstantTimeCompare([]byte(want.signature), []byte(a.signature)) != 1 {
		return &authError{"InvalidSignatureException", "The request signature we calculated does not match the signature you provided."}
	}
	return nil
}

// asAuthError is errors.As for *authError.
func asAuthError(err error) (*authError, bool) {
	var ae *authError
	ok := errors.As(err, &ae)
	return ae, ok
}
