package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/jitbot/jitbot/grants"
)

// maxRetryAfter caps how long a receiver's Retry-After can hold a call.
const maxRetryAfter = time.Minute

// outcome is the result of one attempt.
type outcome struct {
	body       []byte
	err        error // nil on success
	retryable  bool
	retryAfter time.Duration
}

// call sends op for g until it succeeds, fails permanently, runs out of
// attempts or ctx ends. It returns the successful response body.
func (p *Provider) call(ctx context.Context, op string, g grants.Grant) ([]byte, error) {
	for attempt := 1; ; attempt++ {
		out := p.attempt(ctx, op, g)
		if out.err == nil {
			return out.body, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, p.fail(op, g, false, "", fmt.Errorf("call webhook: %w", err))
		}
		if !out.retryable {
			return nil, p.fail(op, g, true, capped(out.body), out.err)
		}
		if attempt >= p.maxAttempts {
			err := fmt.Errorf("after %d attempts: %w", attempt, out.err)
			return nil, p.fail(op, g, false, capped(out.body), err)
		}

		wait := max(p.backoff(attempt), min(out.retryAfter, maxRetryAfter))
		p.log.Warn().Str("grant_id", g.ID).Str("action", op).Int("attempt", attempt).
			Dur("retry_in", wait).Err(out.err).Msg("webhook failed, will retry")
		if err := p.sleep(ctx, wait); err != nil {
			return nil, p.fail(op, g, false, capped(out.body),
				fmt.Errorf("wait to retry: %w (last failure: %v)", err, out.err))
		}
	}
}

// backoff is the wait after the given failed attempt: an exponential step
// from backoffMin, capped at backoffMax, of which a random half is kept so
// that many callers do not retry in step.
func (p *Provider) backoff(attempt int) time.Duration {
	step := p.backoffMin
	for i := 1; i < attempt && step < p.backoffMax; i++ {
		step *= 2
	}
	step = min(step, p.backoffMax)
	if step <= 0 {
		return 0
	}
	return step/2 + rand.N(step/2+1)
}

// sleep waits d on the injected clock, or until ctx ends.
func (p *Provider) sleep(ctx context.Context, d time.Duration) error {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		return fmt.Errorf("retry in %s would pass the deadline: %w",
			d.Round(time.Millisecond), context.DeadlineExceeded)
	}
	timer := p.clock.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.Chan():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// attempt sends one signed request and classifies the answer.
func (p *Provider) attempt(ctx context.Context, op string, g grants.Grant) outcome {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()

	req, err := p.request(ctx, op, g)
	if err != nil {
		return outcome{err: err}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		// The URL may carry a token in its query: keep it out of errors.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return outcome{err: fmt.Errorf("post: %w", err), retryable: true}
	}
	defer resp.Body.Close()
	return p.classify(resp)
}

func (p *Provider) request(
	ctx context.Context, op string, g grants.Grant,
) (*http.Request, error) {
	now := p.clock.Now()
	body, err := json.Marshal(Payload{Action: op, Grant: g, SentAt: now.UTC()})
	if err != nil {
		return nil, fmt.Errorf("encode payload: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return nil, errors.New("build request: invalid url")
	}
	for k, v := range p.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "jitbot")
	req.Header.Set(SignatureHeader, Sign(p.secret, now, body))
	return req, nil
}

func (p *Provider) classify(resp *http.Response) outcome {
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return outcome{err: fmt.Errorf("read response: %w", err), retryable: true}
	}
	code := resp.StatusCode
	status := fmt.Errorf("receiver answered %d %s", code, http.StatusText(code))
	switch {
	case code >= 200 && code < 300:
		return outcome{body: body}
	case code == http.StatusTooManyRequests:
		return outcome{body: body, err: status, retryable: true,
			retryAfter: p.retryAfter(resp.Header.Get("Retry-After"))}
	case code >= 500, code == http.StatusRequestTimeout:
		return outcome{body: body, err: status, retryable: true,
			retryAfter: p.retryAfter(resp.Header.Get("Retry-After"))}
	}
	return outcome{body: body, err: status}
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func (p *Provider) retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(p.clock.Now()), 0)
	}
	return 0
}

func (p *Provider) fail(
	op string, g grants.Grant, permanent bool, detail string, err error,
) error {
	return &grants.Error{
		Op:        op,
		Provider:  p.name,
		GrantID:   g.ID,
		Permanent: permanent,
		Detail:    detail,
		Err:       err,
	}
}

// capped returns body as text, trimmed to detailCap bytes.
func capped(body []byte) string {
	s := string(bytes.TrimSpace(body))
	if len(s) > detailCap {
		s = s[:detailCap] + " […]"
	}
	return s
}
