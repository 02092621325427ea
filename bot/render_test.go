package bot

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/store"
)

// checkBlocks marshals blocks, proves slack-go reads them back, and checks
// them against Slack's published limits. It returns the JSON.
func checkBlocks(t *testing.T, blocks []slack.Block, maxBlocks int) string {
	t.Helper()
	raw := readable(t, slack.Blocks{BlockSet: blocks})
	var back slack.Blocks
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatalf("blocks do not parse: %v\n%s", err, raw)
	}
	if len(back.BlockSet) != len(blocks) || len(blocks) > maxBlocks {
		t.Fatalf("got %d blocks back of %d, limit %d", len(back.BlockSet), len(blocks), maxBlocks)
	}
	var tree struct {
		Blocks []map[string]any `json:"blocks"`
	}
	_ = json.Unmarshal(raw, &tree)
	for _, b := range tree.Blocks {
		walkLimits(t, b["type"].(string), b)
	}
	return string(raw)
}

// readable marshals v as JSON without escaping <, > and &, so tests can
// look for Slack's own escapes.
func readable(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(tree); err != nil {
		t.Fatalf("encode: %v", err)
	}
	return buf.Bytes()
}

func walkLimits(t *testing.T, blockType string, node any) {
	t.Helper()
	switch n := node.(type) {
	case map[string]any:
		limitsOf(t, blockType, n)
		for _, v := range n {
			walkLimits(t, blockType, v)
		}
	case []any:
		for _, v := range n {
			walkLimits(t, blockType, v)
		}
	}
}

func limitsOf(t *testing.T, blockType string, n map[string]any) {
	t.Helper()
	runes := func(k string) int { s, _ := n[k].(string); return utf8.RuneCountInString(s) }
	switch n["type"] {
	case "plain_text", "mrkdwn":
		limit := 3000
		if blockType == "header" {
			limit = 150
		}
		if l := runes("text"); l == 0 || l > limit {
			t.Errorf("%s text of %d runes in %s block, limit %d", n["type"], l, blockType, limit)
		}
	case "button":
		if l := runes("value"); l > 2000 {
			t.Errorf("button value of %d runes", l)
		}
		if txt, _ := n["text"].(map[string]any); utf8.RuneCountInString(txt["text"].(string)) > 75 {
			t.Errorf("button text too long: %v", txt["text"])
		}
	case "actions":
		if els, _ := n["elements"].([]any); len(els) > 25 {
			t.Errorf("%d elements in an actions block", len(els))
		}
	}
	if l := runes("block_id"); l > 255 {
		t.Errorf("block_id of %d runes", l)
	}
}

func sampleRequest() store.Request {
	at := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	return store.Request{
		ID: "r_1", Requester: "U1", Resource: "orders-db", Role: "read",
		Duration: 90 * time.Minute, Reason: "INC-7 <script> & friends",
		State: store.RequestPending, CreatedAt: at, ExpiresAt: at.Add(time.Hour),
		ApprovalsRequired: 2,
		Decisions:         []store.Decision{{User: "U2", Approve: true, At: at}},
	}
}

func TestApprovalPendingHasButtonsAndCount(t *testing.T) {
	raw := checkBlocks(t, approvalBlocks(sampleRequest()), maxMsgBlocks)
	for _, want := range []string{
		"<@U1>", "orders-db / read", "1h30m", "`r_1`", "1 of 2 approvals",
		`"action_id":"jit_approve"`, `"action_id":"jit_deny"`,
		`"style":"primary"`, `"style":"danger"`, `"value":"r_1"`,
		"INC-7 &lt;script&gt; &amp; friends",
		"<!date^1772361000^{date_short_pretty} {time}|2026-03-01 10:30 UTC>",
	} {
		if !strings.Contains(raw, want) {
			t.Errorf("approval message lacks %q:\n%s", want, raw)
		}
	}
}

func TestApprovalFinalStates(t *testing.T) {
	decided := time.Date(2026, 3, 1, 9, 45, 0, 0, time.UTC)
	tests := []struct {
		name  string
		edit  func(*store.Request)
		wants []string
	}{
		{"approved", func(r *store.Request) {
			r.State, r.DecidedBy = store.RequestApproved, "U3"
		}, []string{"Approved by <@U2> and <@U3> at <!date^1772358300^"}},
		{"denied", func(r *store.Request) {
			r.State, r.DecidedBy = store.RequestDenied, "U3"
		}, []string{"Denied by <@U3>"}},
		{"auto-approved", func(r *store.Request) {
			r.State, r.DecidedBy, r.AutoApproved, r.AutoRule =
				store.RequestApproved, "policy", true, "oncall"
		}, []string{"Access request (auto-approved)", "Auto-approved by policy (rule `oncall`)"}},
		{"break-glass", func(r *store.Request) {
			r.State, r.DecidedBy, r.BreakGlass = store.RequestApproved, "U1", true
		}, []string{"Break-glass access", "granted without approval"}},
		{"expired", func(r *store.Request) {
			r.State, r.DecidedBy = store.RequestExpired, "jitbot"
		}, []string{"Expired without a decision"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := sampleRequest()
			req.DecidedAt = decided
			tt.edit(&req)
			raw := checkBlocks(t, approvalBlocks(req), maxMsgBlocks)
			if strings.Contains(raw, `"type":"actions"`) {
				t.Errorf("final message still has buttons:\n%s", raw)
			}
			for _, want := range tt.wants {
				if !strings.Contains(raw, want) {
					t.Errorf("lacks %q:\n%s", want, raw)
				}
			}
		})
	}
}

func TestLongReasonIsCutWithEllipsis(t *testing.T) {
	req := sampleRequest()
	req.Reason = strings.Repeat("&", 5000)
	req.Resource = strings.Repeat("r", 400)
	raw := checkBlocks(t, approvalBlocks(req), maxMsgBlocks)
	if !strings.Contains(raw, "…") {
		t.Errorf("long reason not cut with an ellipsis")
	}
	if strings.Contains(raw, "&am…") || strings.Contains(raw, "&a…") {
		t.Errorf("an entity was split")
	}
}

func TestEscapeLimit(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"a<b>&c", 100, "a&lt;b&gt;&amp;c"},
		{"abcdef", 6, "abcdef"},
		{"abcdefg", 6, "abcde…"},
		{"ab&cd", 6, "ab…"},
		{"", 5, ""},
	}
	for _, tt := range tests {
		if got := escapeLimit(tt.in, tt.max); got != tt.want {
			t.Errorf("escapeLimit(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestFmtDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		90 * time.Minute: "1h30m", 2 * time.Hour: "2h", 26 * time.Hour: "1d2h",
		30 * time.Second: "30s", 45 * time.Minute: "45m", 12 * time.Second: "12s",
	} {
		if got := fmtDuration(d); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestNoticesRender(t *testing.T) {
	req := sampleRequest()
	req.Message = store.MessageRef{Channel: "C1", TS: "1.1"}
	g := store.Grant{ID: "g_1", User: "U1", Resource: "orders-db", Role: "read",
		ExpiresAt: req.CreatedAt.Add(2 * time.Hour), EndReason: store.EndReleased,
		EndedBy: "U1", AckedBy: "U9"}
	kinds := []access.NoticeKind{
		access.NoticeSubmitted, access.NoticeAutoApproved, access.NoticeGranted,
		access.NoticeGrantFailed, access.NoticeDenied, access.NoticeRequestExpired,
		access.NoticeCancelled, access.NoticeExpiringSoon, access.NoticeRevoked,
		access.NoticeRevokeFailed, access.NoticeRevokeRecovered, access.NoticeReminder, access.NoticeEscalated,
		access.NoticeBreakGlass, access.NoticeBreakGlassAck, access.NoticePolicyRejected,
	}
	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) {
			n := access.Notice{Kind: k, Request: req, Grant: g, Text: "detail <x>",
				Mentions: []string{"U5"}}
			for _, m := range []message{threadNotice(n), dmNotice(n)} {
				raw := checkBlocks(t, m.Blocks, maxMsgBlocks)
				if m.Text == "" || !strings.Contains(raw, "detail &lt;x&gt;") {
					t.Errorf("notice lacks fallback text or escaped detail:\n%s", raw)
				}
			}
		})
	}
}

func TestExpiringSoonDMOffersReleaseAndExtend(t *testing.T) {
	n := access.Notice{Kind: access.NoticeExpiringSoon, Request: sampleRequest(),
		Grant: store.Grant{ID: "g_7", User: "U1", ExpiresAt: time.Unix(1772400000, 0)}}
	raw := checkBlocks(t, dmNotice(n).Blocks, maxMsgBlocks)
	for _, want := range []string{`"action_id":"jit_release"`, `"action_id":"jit_extend"`,
		`"value":"g_7"`, "Release now", "Request extension"} {
		if !strings.Contains(raw, want) {
			t.Errorf("lacks %q:\n%s", want, raw)
		}
	}
}

func TestListBlocksStayInsideLimits(t *testing.T) {
	var reqs []store.Request
	for range 5000 {
		reqs = append(reqs, sampleRequest())
	}
	blocks := listBlocks(reqs, nil)
	raw := checkBlocks(t, blocks, maxMsgBlocks)
	if !strings.Contains(raw, "more") {
		t.Errorf("long list does not say what was left out")
	}
	got := checkBlocks(t, listBlocks(nil, nil), maxMsgBlocks)
	if !strings.Contains(got, "no requests") {
		t.Errorf("empty list: %s", got)
	}
}

func TestHelpShowsUsage(t *testing.T) {
	raw := checkBlocks(t, helpBlocks("/jit", "Missing role.", cmdRequest), maxMsgBlocks)
	if !strings.Contains(raw, "Missing role.") ||
		!strings.Contains(raw, "/jit request &lt;resource&gt;") {
		t.Errorf("help lacks problem or usage:\n%s", raw)
	}
}
