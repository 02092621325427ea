package policy

import (
	"fmt"
	"strings"
	"time"

	// Embedded zone data keeps windows working on hosts without tzdata.
	_ "time/tzdata"
)

// window is a weekly time range on the wall clock of one zone. When start
// is after end the range crosses midnight and belongs to the day it starts.
type window struct {
	days       [7]bool // indexed by time.Weekday
	start, end int     // minutes after midnight
	loc        *time.Location
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday,
	"sat": time.Saturday,
}

func (b *builder) window(path string, doc windowDoc) *window {
	w := &window{loc: time.UTC}
	if doc.Timezone != "" {
		loc, err := time.LoadLocation(doc.Timezone)
		if err != nil {
			b.add(path+".timezone", "unknown time zone %q; use an IANA name such as Europe/Berlin",
				doc.Timezone)
		} else {
			w.loc = loc
		}
	}
	b.days(path+".days", doc.Days, w)
	var okStart, okEnd bool
	w.start, okStart = b.clock(path+".start", doc.Start)
	w.end, okEnd = b.clock(path+".end", doc.End)
	if okStart && okEnd && w.start == w.end {
		b.add(path+".end", "start and end are equal; the window would be empty")
	}
	return w
}

func (b *builder) days(path string, names []string, w *window) {
	if len(names) == 0 {
		w.days = [7]bool{true, true, true, true, true, true, true}
		return
	}
	for i, name := range names {
		key := strings.ToLower(strings.TrimSpace(name))
		if len(key) > 3 {
			key = key[:3]
		}
		d, ok := dayNames[key]
		if !ok {
			b.add(fmt.Sprintf("%s[%d]", path, i), "unknown day %q; use mon..sun", name)
			continue
		}
		w.days[d] = true
	}
}

func (b *builder) clock(path, raw string) (int, bool) {
	t, err := time.Parse("15:04", strings.TrimSpace(raw))
	if err != nil {
		b.add(path, "%q is not a time of day; write it like 09:00", raw)
		return 0, false
	}
	return t.Hour()*60 + t.Minute(), true
}

// contains reports whether t falls in the window, judged by the wall clock
// in the window's zone, so daylight saving changes move the window with
// local time.
func (w *window) contains(t time.Time) bool {
	local := t.In(w.loc)
	minute := local.Hour()*60 + local.Minute()
	today := local.Weekday()
	if w.start < w.end {
		return w.days[today] && minute >= w.start && minute < w.end
	}
	yesterday := (today + 6) % 7
	return (w.days[today] && minute >= w.start) || (w.days[yesterday] && minute < w.end)
}
