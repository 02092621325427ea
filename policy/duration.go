package policy

import (
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// durationForm is the one way durations are written, in policy files and in
// Slack alike: whole days, hours, minutes and seconds, each at most once and
// in that order, such as 1d2h30m, 90m or 45s.
var durationForm = regexp.MustCompile(`^(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$`)

var durationUnits = [...]time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second}

// ErrBadDuration is returned by ParseDuration for text that is not a
// duration in the accepted form.
var ErrBadDuration = errors.New("not a duration like 1d2h30m, 90m or 45s")

// ParseDuration reads a duration written as whole days, hours, minutes and
// seconds in that order, each part at most once: "1d", "1d2h30m", "90m",
// "45s". Case and surrounding space are ignored, and "0" means zero.
// Fractions, signs, other units and repeated parts are refused with an
// error wrapping ErrBadDuration, as is a value too long to represent.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "0" {
		return 0, nil
	}
	m := durationForm.FindStringSubmatch(s)
	if s == "" || m == nil {
		return 0, ErrBadDuration
	}
	var total time.Duration
	for i, part := range m[1:] {
		if part == "" {
			continue
		}
		n, err := strconv.ParseInt(part, 10, 64)
		unit := durationUnits[i]
		if err != nil || n > (math.MaxInt64-int64(total))/int64(unit) {
			return 0, ErrBadDuration
		}
		total += time.Duration(n) * unit
	}
	return total, nil
}

// FormatDuration writes d for people: hours, minutes and seconds with the
// zero parts left out ("24h", "1h30m", "45s", "0s"). A part below a second
// falls back to Go's own notation, which is exact.
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Second != 0 || d == math.MinInt64:
		return d.String()
	case d < 0:
		return "-" + FormatDuration(-d)
	}
	var b strings.Builder
	for _, p := range clockParts {
		if n := d / p.unit; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10) + p.suffix)
			d -= n * p.unit
		}
	}
	return b.String()
}

var clockParts = [...]struct {
	unit   time.Duration
	suffix string
}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}}
