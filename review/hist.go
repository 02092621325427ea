package review

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// hist counts durations rounded up to a step: a second below an hour, a
// minute from an hour on (the precision a report shows), so its size is
// bounded by the range of values, not by how many were added. Quantiles are
// exact at that precision and never below the true value.
type hist struct {
	n      int
	counts map[time.Duration]int
}

func newHist() *hist {
	return &hist{counts: make(map[time.Duration]int)}
}

func (h *hist) add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	step := time.Second
	if d > time.Hour {
		step = time.Minute
	}
	h.counts[(d+step-1)/step*step]++
	h.n++
}

// quantile returns the nearest-rank pct-th percentile, or zero when empty.
func (h *hist) quantile(pct int) time.Duration {
	if h == nil || h.n == 0 {
		return 0
	}
	rank := max((pct*h.n+99)/100, 1)
	keys := make([]time.Duration, 0, len(h.counts))
	for k := range h.counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	seen := 0
	for _, k := range keys {
		seen += h.counts[k]
		if seen >= rank {
			return k
		}
	}
	return keys[len(keys)-1]
}

// roundUp rounds d up to a multiple of step.
func roundUp(d, step time.Duration) time.Duration {
	if d <= 0 {
		return step
	}
	return (d + step - 1) / step * step
}

// roundDur rounds d to the precision a report shows: the second, or the
// minute from an hour on.
func roundDur(d time.Duration) time.Duration {
	if d >= time.Hour || d <= -time.Hour {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}

// shortDur renders d rounded by roundDur, without zero units: "2h",
// "1h30m", "45s", "0s".
func shortDur(d time.Duration) string {
	d = roundDur(d)
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
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
