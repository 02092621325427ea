package slackfake_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/slackfake"
)

func TestUploadFileSharesIntoThread(t *testing.T) {
	srv := newServer(t, nil)
	api := newAPI(srv)
	ctx := testContext(t)
	_, ts, err := api.PostMessageContext(ctx, "C0ACCESS", slack.MsgOptionText("summary", false))
	if err != nil {
		t.Fatal(err)
	}
	report := []byte("# Access review\n\nAll quiet.\n")

	sum, err := api.UploadFileContext(ctx, slack.UploadFileParameters{
		Reader: bytes.NewReader(report), FileSize: len(report),
		Filename: "review.md", Title: "Access review", Channel: "C0ACCESS",
		ThreadTimestamp: ts, InitialComment: "Full report",
	})
	if err != nil {
		t.Fatal(err)
	}

	files := srv.Files("C0ACCESS")
	if len(files) != 1 {
		t.Fatalf("%d files shared, want 1", len(files))
	}
	f := files[0]
	if f.ID != sum.ID || f.Title != "Access review" || f.Name != "review.md" ||
		f.ThreadTS != ts || f.Comment != "Full report" || !bytes.Equal(f.Content, report) {
		t.Fatalf("shared file = %+v (summary %+v)", f, sum)
	}
	if n := len(srv.Files("C0OTHER")); n != 0 {
		t.Fatalf("%d files in a channel nothing was shared to", n)
	}
}

func TestUploadFileRefusals(t *testing.T) {
	srv := newServer(t, nil)
	tests := []struct {
		name string
		// run returns the Slack error code or the failure it met.
		run  func(t *testing.T) string
		want string
	}{
		{"missing length", func(t *testing.T) string {
			_, body := rawCall(t, srv, "files.getUploadURLExternal", testBotToken,
				url.Values{"filename": {"a.md"}})
			return body
		}, "invalid_arguments"},
		{"app token", func(t *testing.T) string {
			_, body := rawCall(t, srv, "files.getUploadURLExternal", testAppToken,
				url.Values{"filename": {"a.md"}, "length": {"3"}})
			return body
		}, "not_allowed_token_type"},
		{"fewer bytes than announced", func(t *testing.T) string {
			up := getUploadURL(t, srv, 10)
			status, body := post(t, up.UploadURL, "abc")
			if status == http.StatusOK {
				t.Fatalf("short upload accepted: %s", body)
			}
			return complete(t, srv, up.FileID, "C0ACCESS")
		}, "file_not_found"},
		{"complete before upload", func(t *testing.T) string {
			up := getUploadURL(t, srv, 3)
			return complete(t, srv, up.FileID, "C0ACCESS")
		}, "file_not_found"},
		{"complete twice", func(t *testing.T) string {
			up := getUploadURL(t, srv, 3)
			if status, body := post(t, up.UploadURL, "abc"); status != http.StatusOK ||
				body != "OK - 3" {
				t.Fatalf("upload answered %d %q", status, body)
			}
			if body := complete(t, srv, up.FileID, "C0ACCESS"); !strings.Contains(body, `"ok":true`) {
				t.Fatalf("first completion: %s", body)
			}
			return complete(t, srv, up.FileID, "C0ACCESS")
		}, "file_not_found"},
		{"unknown channel", func(t *testing.T) string {
			up := getUploadURL(t, srv, 3)
			post(t, up.UploadURL, "abc")
			return complete(t, srv, up.FileID, "C0NOWHERE")
		}, "channel_not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.run(t); !strings.Contains(got, tc.want) {
				t.Fatalf("answer %q, want %s", got, tc.want)
			}
		})
	}
	if n := len(srv.Files("C0ACCESS")); n != 1 {
		t.Fatalf("%d files shared, want only the one completed once", n)
	}
}

func getUploadURL(t *testing.T, srv *slackfake.Server, n int) *slack.GetUploadURLExternalResponse {
	t.Helper()
	up, err := newAPI(srv).GetUploadURLExternalContext(testContext(t),
		slack.GetUploadURLExternalParameters{FileName: "a.md", FileSize: n})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(up.UploadURL, strings.TrimSuffix(srv.APIURL(), "/api/")) {
		t.Fatalf("upload URL %s is not on the emulator", up.UploadURL)
	}
	return up
}

// post sends raw bytes to an upload URL.
func post(t *testing.T, target, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(target, "application/octet-stream", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, strings.TrimSpace(b.String())
}

func complete(t *testing.T, srv *slackfake.Server, id, channel string) string {
	t.Helper()
	_, body := rawCall(t, srv, "files.completeUploadExternal", testBotToken, url.Values{
		"files": {`[{"id":"` + id + `"}]`}, "channel_id": {channel},
	})
	return body
}
