package grants

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
)

// Env is what a provider constructor may use from its surroundings. Tests
// pass a fake clock and a Getenv backed by a map; production passes the real
// ones. Call WithDefaults before use to fill zero fields.
type Env struct {
	// Log is the provider's logger; Build adds the provider field.
	Log zerolog.Logger
	// Clock is the source of time and timers. Nil means the real clock.
	Clock clockwork.Clock
	// Getenv reads an environment variable, for secrets named in settings.
	// Nil means os.Getenv.
	Getenv func(string) string
}

// WithDefaults returns a copy of e with a nil Clock replaced by the real
// clock and a nil Getenv replaced by os.Getenv.
func (e Env) WithDefaults() Env {
	if e.Clock == nil {
		e.Clock = clockwork.NewRealClock()
	}
	if e.Getenv == nil {
		e.Getenv = os.Getenv
	}
	return e
}

// Factory builds the provider called name from its settings, the part of
// the configuration below the provider's type. It must reject settings it
// does not understand (see Decode) and must not contact the backend: Build
// runs every factory at start-up, before the bot connects anywhere.
type Factory func(name string, settings map[string]any, env Env) (Provider, error)

// Config is one configured provider: its type name and its settings.
type Config struct {
	Type     string         `mapstructure:"type"`
	Settings map[string]any `mapstructure:",remain"`
}

// Registry maps a provider type name, such as "exec", to its constructor.
// It is filled in one place (grants/builtin), never by init functions.
type Registry map[string]Factory

// Types returns the registered type names, sorted.
func (r Registry) Types() []string {
	names := make([]string, 0, len(r))
	for name := range r {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Build constructs every configured provider, keyed by its configured name.
// It runs every factory even after a failure, so that one start-up reports
// all mistakes; the returned error joins them, each starting with
// "providers.<name>". On error the map is nil.
func (r Registry) Build(cfgs map[string]Config, env Env) (map[string]Provider, error) {
	env = env.WithDefaults()
	names := make([]string, 0, len(cfgs))
	for name := range cfgs {
		names = append(names, name)
	}
	slices.Sort(names)

	built := make(map[string]Provider, len(cfgs))
	var errs []error
	for _, name := range names {
		p, err := r.build(name, cfgs[name], env)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		built[name] = p
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return built, nil
}

func (r Registry) build(name string, cfg Config, env Env) (Provider, error) {
	if cfg.Type == "" {
		return nil, fmt.Errorf("providers.%s.type: missing (known types: %s)",
			name, strings.Join(r.Types(), ", "))
	}
	factory, ok := r[cfg.Type]
	if !ok {
		return nil, fmt.Errorf("providers.%s.type: unknown type %q (known types: %s)",
			name, cfg.Type, strings.Join(r.Types(), ", "))
	}

	env.Log = env.Log.With().Str("provider", name).Logger()
	p, err := factory(name, cfg.Settings, env)
	if err != nil {
		return nil, fmt.Errorf("providers.%s: %w", name, err)
	}
	if p == nil {
		return nil, fmt.Errorf("providers.%s: constructor returned no provider", name)
	}
	return p, nil
}

// Decode copies settings into out, a pointer to a struct whose fields carry
// mapstructure tags. Durations are written as strings such as "30s"; a bare
// number for a duration is rejected rather than read as nanoseconds. Strings
// are accepted for numbers and booleans, as environment overrides produce
// them. A key that matches no field is an error naming the key. A nil
// settings map leaves out untouched.
func Decode(settings map[string]any, out any) error {
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			durationHook,
			mapstructure.StringToBasicTypeHookFunc(),
		),
		ErrorUnused: true,
		Result:      out,
	})
	if err != nil {
		return fmt.Errorf("decode settings: %w", err)
	}
	if err := dec.Decode(settings); err != nil {
		return decodeError(err)
	}
	return nil
}

var durationType = reflect.TypeFor[time.Duration]()

// durationHook reads "30s" as a duration and refuses `timeout: 30`, which
// would otherwise mean thirty nanoseconds.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType || from == durationType {
		return data, nil
	}
	switch from.Kind() {
	case reflect.String:
		d, err := time.ParseDuration(data.(string))
		if err != nil {
			return nil, fmt.Errorf("invalid duration %q, want a form such as \"30s\"", data)
		}
		return d, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return nil, fmt.Errorf("duration %v needs a unit, such as \"%vs\"", data, data)
	}
	return data, nil
}

// decodeError rewrites mapstructure's error tree into one line per problem,
// each naming the setting it concerns.
func decodeError(err error) error {
	var lines []string
	for _, leaf := range leaves(err) {
		lines = append(lines, describe(leaf))
	}
	slices.Sort(lines)
	return errors.New(strings.Join(lines, "; "))
}

func leaves(err error) []error {
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range multi.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	de, ok := err.(*mapstructure.DecodeError)
	if !ok {
		if inner := errors.Unwrap(err); inner != nil {
			return leaves(inner)
		}
		return []error{err}
	}
	switch de.Unwrap().(type) {
	case *mapstructure.DecodeError, interface{ Unwrap() []error }:
		return leaves(de.Unwrap())
	}
	return []error{de}
}

func describe(err error) string {
	var de *mapstructure.DecodeError
	if !errors.As(err, &de) {
		return err.Error()
	}
	msg := de.Unwrap().Error()
	if keys, ok := strings.CutPrefix(msg, "has invalid keys: "); ok {
		prefix := ""
		if de.Name() != "" {
			prefix = de.Name() + "."
		}
		parts := strings.Split(keys, ", ")
		for i, k := range parts {
			parts[i] = prefix + k
		}
		return "unknown setting " + strings.Join(parts, ", ")
	}
	if de.Name() == "" {
		return msg
	}
	return de.Name() + ": " + msg
}
