package review

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// hist counts durations rounded up to a unit, so its size is bounded by
// the range of values, not by how many were added. Quantiles are exact at
// the unit's resolution (and never below the true value).
type hist struct {
	unit   time.Duration
	n      int
	counts map[int64]int
}

func newHist(unit time.Duration) *hist {
	return &hist{unit: unit, counts: make(map[int64]int)}
}

func (h *hist) add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	k := int64((d + h.unit - 1) / h.unit)
	h.counts[k]++
	h.n++
}

// quantile returns the nearest-rank pct-th percentile, or zero when empty.
func (h *hist) quantile(pct int) time.Duration {
	if h == nil || h.n == 0 {
		return 0
	}
	rank := max((pct*h.n+99)/100, 1)
	keys := make([]int64, 0, len(h.counts))
	for k := range h.counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	seen := 0
	for _, k := range keys {
		seen += h.counts[k]
		if seen >= rank {
			return time.Duration(k) * h.unit
		}
	}
	return time.Duration(keys[len(keys)-1]) * h.unit
}

// roundUp rounds d up to a multiple of step.
func roundUp(d, step time.Duration) time.Duration {
	if d <= 0 {
		return step
	}
	return (d + step - 1) / step * step
}

// shortDur renders d without zero units: "2h", "1h30m", "45s", "0s".
func shortDur(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	neg := d < 0
	if neg {
		d = -d
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	units := []struct {
		size time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}}
	for _, u := range units {
		if n := d / u.size; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10) + u.name)
			d -= n * u.size
		}
	}
	if b.Len() == 0 || (neg && b.Len() == 1) {
		return d.String()
	}
	return b.String()
}

// trimText collapses whitespace and cuts s to at most n runes.
func trimText(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}
