package main

import (
	"os"
	"testing"

	"github.com/serverless-data-platform/sdp/internal/emulator"
)

// TestMain runs the tests, then stops the AWS API emulators the Runtime Interface Emulator cases started
// (emulator.Require shares one server per kind within this test binary).
func TestMain(m *testing.M) {
	os.Exit(emulator.Main(m))
}
