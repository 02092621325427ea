package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries the request's signature:
//
//	X-Jitbot-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
//
// The HMAC is keyed with the shared secret and computed over the decimal
// timestamp, a period, and the raw request body: "<t>.<body>".
//
// A receiver verifies a request by:
//  1. reading the raw body before parsing it;
//  2. recomputing the HMAC from t and the body, and comparing it with v1 in
//     constant time (more than one v1 may be present while a secret is
//     being rotated; any match is enough);
//  3. rejecting the request when t is more than five minutes away from its
//     own clock, so a captured request cannot be replayed later.
//
// Verify does all three. Within the window a replay is harmless: every
// action is idempotent per grant_id.
const SignatureHeader = "X-Jitbot-Signature"

// DefaultTolerance is the replay window receivers should use.
const DefaultTolerance = 5 * time.Minute

// Errors returned by Verify. A receiver should answer all of them with 401.
var (
	ErrSignatureMalformed = errors.New("malformed signature header")
	ErrSignatureMismatch  = errors.New("signature does not match")
	ErrSignatureExpired   = errors.New("signature timestamp outside tolerance")
)

// Sign returns the SignatureHeader value for body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

// Verify checks header, the SignatureHeader value of a request with the
// given raw body, against secret. It fails with ErrSignatureExpired when
// the signed time is more than tolerance away from now, in either
// direction; tolerance zero means DefaultTolerance.
func Verify(
	secret []byte,
	header string,
	body []byte,
	now time.Time,
	tolerance time.Duration,
) error {
	if tolerance == 0 {
		tolerance = DefaultTolerance
	}
	ts, sigs, err := parseHeader(header)
	if err != nil {
		return err
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad timestamp", ErrSignatureMalformed)
	}

	want := mac(secret, ts, body)
	matched := false
	for _, sig := range sigs {
		got, err := hex.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			matched = true
		}
	}
	if !matched {
		return ErrSignatureMismatch
	}
	if age := now.Sub(time.Unix(unix, 0)); age > tolerance || age < -tolerance {
		return fmt.Errorf("%w: signed %s ago", ErrSignatureExpired, age.Round(time.Second))
	}
	return nil
}

func parseHeader(header string) (ts string, sigs []string, err error) {
	for part := range strings.SplitSeq(header, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return "", nil, fmt.Errorf("%w: part without '='", ErrSignatureMalformed)
		}
		switch key {
		case "t":
			ts = value
		case "v1":
			sigs = append(sigs, value)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return "", nil, fmt.Errorf("%w: want t=...,v1=...", ErrSignatureMalformed)
	}
	return ts, sigs, nil
}

func mac(secret []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte("."))
	h.Write(body)
	return h.Sum(nil)
}

// secret holds the signing key. It prints, and marshals to JSON, as a
// redaction marker, so it cannot leak through a log line or an error.
type secret []byte

const redacted = "[redacted]"

func (secret) String() string                { return redacted }
func (secret) GoString() string              { return redacted }
func (secret) MarshalJSON() ([]byte, error)  { return []byte(`"` + redacted + `"`), nil }
func (secret) MarshalText() ([]byte, error)  { return []byte(redacted), nil }
func (secret) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(redacted)) }
