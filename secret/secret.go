// Package secret holds values that must never be printed or logged, such as
// tokens and passwords. A Value shows a redaction marker to fmt, JSON, text
// encoders, zerolog and slog; only Reveal gives the value.
package secret

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/rs/zerolog"
)

// Redacted is what a Value shows in place of its content.
const Redacted = "[redacted]"

// Value is a secret. The zero value is empty. Values are immutable and safe
// for concurrent use.
type Value struct {
	v string
}

// New wraps s as a secret.
func New(s string) Value { return Value{v: s} }

// Reveal returns the secret itself. Call it only where the value is used.
func (s Value) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Value) IsZero() bool { return s.v == "" }

// String returns the redaction marker.
func (s Value) String() string { return Redacted }

// GoString returns the redaction marker.
func (s Value) GoString() string { return Redacted }

// Format writes the redaction marker for every verb.
func (s Value) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// MarshalJSON encodes the redaction marker as a JSON string.
func (s Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText returns the redaction marker.
func (s Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue makes slog print the redaction marker.
func (s Value) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalZerologObject makes zerolog's Object print the redaction marker.
func (s Value) MarshalZerologObject(e *zerolog.Event) { e.Str("value", Redacted) }

// ErrConflict is returned by Load when a secret is given in more than one
// way, so that it is clear which one is in use.
var ErrConflict = errors.New("secret given more than once")

// Load returns a secret given inline, by the name of an environment
// variable, or by the path of a file; at most one may be set. A file's
// trailing newline is removed. An empty result with a nil error means none
// was given or the variable is empty.
func Load(inline, envName, file string) (Value, error) {
	given := 0
	for _, s := range []string{inline, envName, file} {
		if s != "" {
			given++
		}
	}
	if given > 1 {
		return Value{}, ErrConflict
	}
	switch {
	case envName != "":
		return New(os.Getenv(envName)), nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return Value{}, fmt.Errorf("read secret file %s: %w", file, err)
		}
		return New(strings.TrimRight(string(b), "\r\n")), nil
	}
	return New(inline), nil
}
