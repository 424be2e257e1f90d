package emulator_test

import (
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/serverless-data-platform/sdp/internal/emulator"
)

func TestMain(m *testing.M) { os.Exit(emulator.Main(m)) }

// TestStartStop starts each emulator on a free port of 127.0.0.1, checks that it answers there, and that Stop
// ends its process.
func TestStartStop(t *testing.T) {
	for _, kind := range []emulator.Kind{emulator.Dynalite, emulator.Kinesalite, emulator.S3rver, emulator.Moto, emulator.KinesisLocal} {
		t.Run(string(kind), func(t *testing.T) {
			s, err := emulator.Start(kind, emulator.Options{Dir: t.TempDir()})
			if err != nil {
				if os.Getenv(emulator.RequireEnv) != "" {
					t.Fatal(err)
				}
				t.Skipf("%v; make test installs the emulators", err)
			}
			u, err := url.Parse(s.Endpoint)
			if err != nil || u.Hostname() != "127.0.0.1" {
				t.Fatalf("endpoint %q is not on 127.0.0.1", s.Endpoint)
			}
			c, err := net.DialTimeout("tcp", u.Host, time.Second)
			if err != nil {
				t.Fatalf("%s does not answer at %s: %v", kind, s.Endpoint, err)
			}
			c.Close()
			pid := s.PID()
			if err := s.Stop(); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Kill(pid, 0); err == nil {
				t.Errorf("%s (pid %d) still runs after Stop", kind, pid)
			}
			if _, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
				t.Errorf("%s still answers after Stop", kind)
			}
		})
	}
}
