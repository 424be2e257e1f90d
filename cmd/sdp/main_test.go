package main

import (
	"os"
	"testing"

	"github.com/serverless-data-platform/sdp/internal/emulator"
)

// TestMain stops the emulators the tests started (the AWS backend's end-to-end test uses moto).
func TestMain(m *testing.M) { os.Exit(emulator.Main(m)) }
