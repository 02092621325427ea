package grants_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/grants"
)

type sample struct {
	Command []string          `mapstructure:"command"`
	Timeout time.Duration     `mapstructure:"timeout"`
	Tries   int               `mapstructure:"tries"`
	Headers map[string]string `mapstructure:"headers"`
	Nested  struct {
		On bool `mapstructure:"on"`
	} `mapstructure:"nested"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]any
		want     sample
		wantErr  []string
	}{
		{
			name: "all fields",
			settings: map[string]any{
				"command": []any{"/bin/true", "x"},
				"timeout": "1m30s",
				"tries":   "3",
				"headers": map[string]any{"X-A": "b"},
				"nested":  map[string]any{"on": "true"},
			},
			want: sample{
				Command: []string{"/bin/true", "x"},
				Timeout: 90 * time.Second,
				Tries:   3,
				Headers: map[string]string{"X-A": "b"},
				Nested: struct {
					On bool `mapstructure:"on"`
				}{On: true},
			},
		},
		{
			name:     "nil settings keep defaults",
			settings: nil,
			want:     sample{Tries: 7},
		},
		{
			name:     "unknown keys named",
			settings: map[string]any{"comand": []any{"x"}, "nested": map[string]any{"of": 1}},
			wantErr:  []string{"unknown setting comand", "nested.of"},
		},
		{
			name:     "bare number duration",
			settings: map[string]any{"timeout": 30},
			wantErr:  []string{"timeout", "needs a unit"},
		},
		{
			name:     "bad duration",
			settings: map[string]any{"timeout": "soon"},
			wantErr:  []string{`timeout: invalid duration "soon"`},
		},
		{
			name:     "two problems both reported",
			settings: map[string]any{"timeout": "soon", "tries": "many"},
			wantErr:  []string{"timeout", "tries"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sample{Tries: 7}
			err := grants.Decode(tt.settings, &got)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("Decode() = nil, want error containing %q", tt.wantErr)
				}
				t.Logf("error: %v", err)
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode() = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

type nopProvider struct{ name string }

func (nopProvider) Grant(context.Context, grants.Grant) error  { return nil }
func (nopProvider) Revoke(context.Context, grants.Grant) error { return nil }

func fakeFactory(
	name string, settings map[string]any, env grants.Env,
) (grants.Provider, error) {
	var s struct {
		URL string `mapstructure:"url"`
	}
	if err := grants.Decode(settings, &s); err != nil {
		return nil, err
	}
	if s.URL == "" {
		return nil, errors.New("url: missing")
	}
	if env.Clock == nil || env.Getenv == nil {
		return nil, errors.New("env defaults not filled")
	}
	return nopProvider{name: name}, nil
}

func TestRegistryBuild(t *testing.T) {
	reg := grants.Registry{"fake": fakeFactory, "other": fakeFactory}
	if got := strings.Join(reg.Types(), ","); got != "fake,other" {
		t.Errorf("Types() = %q, want sorted fake,other", got)
	}

	good := grants.Config{Type: "fake", Settings: map[string]any{"url": "x"}}
	built, err := reg.Build(map[string]grants.Config{"a": good, "b": good}, grants.Env{})
	if err != nil {
		t.Fatalf("Build(valid) = %v", err)
	}
	if p, ok := built["b"].(nopProvider); !ok || p.name != "b" {
		t.Errorf("Build()[b] = %#v, want provider named b", built["b"])
	}

	cfgs := map[string]grants.Config{
		"ok":      good,
		"typo":    {Type: "fak"},
		"notype":  {},
		"broken":  {Type: "fake"},
		"unknown": {Type: "fake", Settings: map[string]any{"url": "x", "urll": "y"}},
	}
	built, err = reg.Build(cfgs, grants.Env{})
	if err == nil || built != nil {
		t.Fatalf("Build(invalid) = %v, %v; want nil map and error", built, err)
	}
	for _, want := range []string{
		`providers.typo.type: unknown type "fak" (known types: fake, other)`,
		"providers.notype.type: missing",
		"providers.broken: url: missing",
		"providers.unknown: unknown setting urll",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Build error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "providers.ok") {
		t.Errorf("Build error mentions the valid provider:\n%v", err)
	}
}
