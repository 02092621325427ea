package main

import (
	"os"
	"testing"

	"github.com/jitbot/jitbot/internal/pgtest"
)

// TestMain lets the test binary stand in for jitbot when the demo's exec
// provider runs it as `<binary> demo-provider …`.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "demo-provider" {
		root := rootCmd()
		root.SetArgs(os.Args[1:])
		if err := root.Execute(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(pgtest.Main(m))
}
