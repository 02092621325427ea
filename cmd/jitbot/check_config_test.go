package main

import (
	"bytes"
	"strings"
	"testing"
)

// runCLI runs the command tree with args and returns what it printed.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := rootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestCheckConfig(t *testing.T) {
	t.Setenv("JITBOT_SLACK_APP_TOKEN", "")
	t.Setenv("JITBOT_SLACK_BOT_TOKEN", "")
	tests := []struct {
		name    string
		config  string
		env     map[string]string
		wantErr bool
		want    []string
	}{
		{
			name:   "the example passes with tokens in the environment",
			config: "../../config.example.yaml",
			env: map[string]string{"JITBOT_SLACK_APP_TOKEN": "xapp-1-A0-1-x",
				"JITBOT_SLACK_BOT_TOKEN": "xoxb-1-x"},
			want: []string{"is valid", "2 role(s)"},
		},
		{
			name:    "the example without tokens names both and how to set them",
			config:  "../../config.example.yaml",
			wantErr: true,
			want:    []string{"slack.app_token", "JITBOT_SLACK_APP_TOKEN", "slack.bot_token"},
		},
		{
			name:    "a user token where the bot token belongs",
			config:  "../../config/testdata/malformed-bot-token.yaml",
			wantErr: true,
			want:    []string{"slack.bot_token", "xoxb-"},
		},
		{
			name:    "an unknown provider type",
			config:  "../../config/testdata/unknown-provider-type.yaml",
			wantErr: true,
			want:    []string{"providers."},
		},
		{
			name:    "a missing file",
			config:  "no-such-config.yaml",
			wantErr: true,
			want:    nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			out, err := runCLI(t, "check-config", "--config", tc.config)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v\n%s", err, tc.wantErr, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "xoxb-1-x") || strings.Contains(out, "xoxp-0000") {
				t.Errorf("output repeats a token:\n%s", out)
			}
		})
	}
}
