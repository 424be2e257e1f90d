package emulator_test

import (
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
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

// TestStartOnTakenPort gives Start a port that another process listens on, as happens when a port chosen
// free is bound by someone else before the emulator binds it: Start must not take that listener for the
// emulator, and starts the emulator on another port.
func TestStartOnTakenPort(t *testing.T) {
	for _, kind := range []emulator.Kind{emulator.Dynalite, emulator.Kinesalite, emulator.S3rver, emulator.Moto, emulator.KinesisLocal} {
		t.Run(string(kind), func(t *testing.T) {
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer taken.Close()
			go func() {
				for {
					c, err := taken.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			port := taken.Addr().(*net.TCPAddr).Port
			s, err := emulator.Start(kind, emulator.Options{Dir: t.TempDir(), Port: port})
			if err != nil {
				if os.Getenv(emulator.RequireEnv) != "" {
					t.Fatal(err)
				}
				t.Skipf("%v; make test installs the emulators", err)
			}
			defer s.Stop()
			u, err := url.Parse(s.Endpoint)
			if err != nil {
				t.Fatal(err)
			}
			if u.Port() == strconv.Itoa(port) {
				t.Fatalf("%s reported at %s, the port another listener holds", kind, s.Endpoint)
			}
			// The endpoint is the emulator's own: it answers HTTP, which the other listener never does.
			resp, err := http.Get(s.Endpoint + "/")
			if err != nil {
				t.Fatalf("%s at %s: %v", kind, s.Endpoint, err)
			}
			resp.Body.Close()
		})
	}
}
