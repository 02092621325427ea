package postgres_test

import (
	"testing"
	"time"

	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/grants/grantstest"
)

func TestContract(t *testing.T) {
	grantstest.Contract(t, func(t *testing.T) grantstest.Harness {
		b := newBackend(t)
		target := b.role(t, "reader", "")
		// The provider talks through a proxy that can stall, standing for a
		// server that stops answering.
		proxy := b.Proxy()
		p := newProvider(t, proxy.DSNFor(b.admin), nil)
		return grantstest.Harness{
			Provider: p,
			Held: func(g grants.Grant) bool {
				return b.held(t, g.Principal, g.Target)
			},
			Grant: func() grants.Grant {
				login := b.role(t, "login", "pw")
				return grantOf(login, target, time.Now().Add(time.Hour))
			},
			Slow: proxy.Stall,
		}
	})
}
