package secret

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

const token = "xoxb-1234-very-secret"

type holder struct {
	Name  string
	Token Value
	Ptr   *Value
}

func TestValueNeverPrints(t *testing.T) {
	v := New(token)
	h := holder{Name: "bot", Token: v, Ptr: &v}
	outputs := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		outputs["fmt "+verb] = fmt.Sprintf(verb, v)
		outputs["fmt struct "+verb] = fmt.Sprintf(verb, h)
	}
	outputs["Sprint"] = fmt.Sprint(v, &v)
	outputs["Errorf"] = fmt.Errorf("token %v: %w", v, errors.New("boom")).Error()

	j, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outputs["json"] = string(j)
	txt, _ := v.MarshalText()
	outputs["text"] = string(txt)

	var zbuf bytes.Buffer
	zl := zerolog.New(&zbuf)
	zl.Info().Interface("iface", v).Any("any", h).Stringer("str", v).
		Object("obj", v).Msgf("%v", v)
	outputs["zerolog"] = zbuf.String()

	var sbuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&sbuf, nil)).Info("x", "token", v, "holder", h)
	outputs["slog"] = sbuf.String()

	for name, out := range outputs {
		if strings.Contains(out, "very-secret") || strings.Contains(out, "xoxb") {
			t.Errorf("%s leaks the secret: %s", name, out)
		}
		if !strings.Contains(out, Redacted) {
			t.Errorf("%s lacks the redaction marker: %s", name, out)
		}
	}
	if v.Reveal() != token {
		t.Errorf("Reveal() = %q, want the token", v.Reveal())
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JITBOT_TEST_SECRET", token)

	tests := []struct {
		name              string
		inline, env, path string
		want              string
		wantErrIs         error
	}{
		{name: "inline", inline: token, want: token},
		{name: "environment", env: "JITBOT_TEST_SECRET", want: token},
		{name: "file trims newline", path: file, want: token},
		{name: "nothing given", want: ""},
		{name: "two sources", inline: "x", path: file, wantErrIs: ErrConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Load(tc.inline, tc.env, tc.path)
			if tc.wantErrIs != nil {
				if !errors.Is(err, tc.wantErrIs) {
					t.Fatalf("err = %v, want %v", err, tc.wantErrIs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Reveal() != tc.want {
				t.Errorf("got %q, want %q", got.Reveal(), tc.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("", "", filepath.Join(t.TempDir(), "absent"))
	if err == nil || !strings.Contains(err.Error(), "read secret file") {
		t.Fatalf("err = %v, want a read error", err)
	}
}
