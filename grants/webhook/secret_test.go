package webhook

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestSecretIsRedacted(t *testing.T) {
	s := secret("hunter2")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		if out := fmt.Sprintf(verb, s); strings.Contains(out, "hunter2") ||
			strings.Contains(out, "68756e74") || !strings.Contains(out, redacted) {
			t.Errorf("Sprintf(%s) = %q, want the redaction marker only", verb, out)
		}
	}
	b, err := json.Marshal(struct{ S secret }{s})
	if err != nil || strings.Contains(string(b), "hunter2") {
		t.Errorf("json = %s, %v; want the redaction marker", b, err)
	}
}
