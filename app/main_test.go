package app_test

import (
	"os"
	"testing"

	"github.com/jitbot/jitbot/internal/pgtest"
)

// TestMain shares one throwaway PostgreSQL server among the tests that ask
// for one; tests that do not never start it.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
