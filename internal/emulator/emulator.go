// Package emulator starts the AWS API emulators the adapter tests run against (DESIGN.md §9): kinesis-local
// and kinesalite for Kinesis, dynalite for DynamoDB, s3rver for S3 (Node.js packages pinned by
// tools/npm/package-lock.json, which `make test` installs) and moto for SQS and the rest (Python, from the
// machine's image).
//
// Each emulator runs as a child process on a free port of 127.0.0.1, is waited for until it answers, and is
// stopped by its own process id. A test binary shares one server per kind between its tests: call Main from
// TestMain, and Require from the tests that need a server. Logs are kept (and their paths printed) when the
// tests fail, removed otherwise.
//
// Under `make test` (SDP_REQUIRE_EMULATORS=1) a server that cannot start fails the test; otherwise the test is
// skipped with a message that says how to run it.
package emulator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Kind names an emulator.
type Kind string

// The emulators.
const (
	KinesisLocal Kind = "kinesis-local"
	Kinesalite   Kind = "kinesalite"
	Dynalite     Kind = "dynalite"
	S3rver       Kind = "s3rver"
	Moto         Kind = "moto"
)

// Region is the region every emulator client uses.
const Region = "us-east-1"

// RequireEnv is the environment variable that makes a server that cannot start a test failure.
const RequireEnv = "SDP_REQUIRE_EMULATORS"

// Server is a running emulator.
type Server struct {
	Kind Kind
	// Endpoint is the server's base URL, http://127.0.0.1:PORT, for the SDK's BaseEndpoint.
	Endpoint string
	// LogPath is the file the server's output goes to.
	LogPath string

	cmd  *exec.Cmd
	done chan error
}

// AccessKey and SecretKey are the credentials the clients of an emulator sign with (s3rver accepts only its
// own pair; the others accept any).
func (s *Server) credentials() (string, string) {
	if s.Kind == S3rver {
		return "S3RVER", "S3RVER"
	}
	return "AKIAEMULATOR", "emulator-secret"
}

// Config returns an AWS configuration for clients of the server: its region and static credentials. Set the
// client's BaseEndpoint to s.Endpoint (and UsePathStyle for S3).
func (s *Server) Config() aws.Config {
	id, secret := s.credentials()
	return aws.Config{
		Region:      Region,
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""),
	}
}

// Stop stops the server by its process id: SIGTERM, then SIGKILL after five seconds.
func (s *Server) Stop() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	// The process group: node and python may have children of their own.
	pgid := -s.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-s.done
	}
	return nil
}

// Options tune Start.
type Options struct {
	// Dir holds the server's log and data; a new temporary directory when empty.
	Dir string
	// Timeout bounds the wait until the server answers (default: 60 s for kinesis-local, 30 s otherwise).
	Timeout time.Duration
	// Port is the port of 127.0.0.1 to try first; a free one when zero. When another process holds it, the
	// server starts on a free port instead.
	Port int
}

// startAttempts bounds the starts of a server whose port another process took first.
const startAttempts = 3

// ErrUnavailable is wrapped by the errors of Start about an emulator that is not installed.
var ErrUnavailable = errors.New("emulator not installed")

// Start starts an emulator of the kind and waits until it accepts connections on its port. The port is free
// when chosen but may be taken by another process before the server binds it: then the server exits, and
// Start tries again on another port.
func Start(kind Kind, opts Options) (*Server, error) {
	var err error
	if opts.Dir == "" {
		if opts.Dir, err = os.MkdirTemp("", "sdp-"+string(kind)+"-"); err != nil {
			return nil, err
		}
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
		if kind == KinesisLocal {
			timeout = 60 * time.Second
		}
	}
	port := opts.Port
	for attempt := 1; ; attempt++ {
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		s, err := start(kind, port, opts.Dir, timeout)
		if err == nil || !errors.Is(err, errPortTaken) || attempt == startAttempts {
			return s, err
		}
		port = 0
	}
}

// errPortTaken is wrapped by the errors of start about a server that could not bind its port.
var errPortTaken = errors.New("port taken by another process")

// start runs one attempt of Start on the port.
func start(kind Kind, port int, dir string, timeout time.Duration) (*Server, error) {
	cmd, err := command(kind, port, dir)
	if err != nil {
		return nil, err
	}
	s := &Server{Kind: kind, Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port),
		LogPath: filepath.Join(dir, string(kind)+".log"), cmd: cmd, done: make(chan error, 1)}
	logf, err := os.Create(s.LogPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", kind, err)
	}
	go func() { s.done <- cmd.Wait(); logf.Close() }()
	if err := s.wait(port, timeout); err != nil {
		s.Stop()
		log := tail(s.LogPath)
		if AddressInUse(log) {
			err = fmt.Errorf("%w: %w", errPortTaken, err)
		}
		return nil, fmt.Errorf("%s on port %d: %w (log: %s)", kind, port, err, log)
	}
	return s, nil
}

// AddressInUse reports whether a server's output says that its port was taken: node's EADDRINUSE, or the
// "address already in use" of Python and Go.
func AddressInUse(log string) bool {
	return strings.Contains(log, "EADDRINUSE") || strings.Contains(strings.ToLower(log), "address already in use")
}

// wait polls the port until the server's process listens on it, the process exits, or the timeout
// passes. A connection alone does not tell: another process may have bound the port after it was chosen.
func (s *Server) wait(port int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			if Listens(s.cmd.Process.Pid, port) {
				return nil
			}
		}
		select {
		case err := <-s.done:
			s.done <- err
			return fmt.Errorf("exited before it answered: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer within %v", timeout)
		}
	}
}

// command is the command line of an emulator.
func command(kind Kind, port int, dir string) (*exec.Cmd, error) {
	if kind == Moto {
		py, err := exec.LookPath("python3")
		if err != nil {
			return nil, fmt.Errorf("%w: moto needs python3 with the moto package (python3 -m moto.server)", ErrUnavailable)
		}
		// The real interpreter rather than a pyenv shim, so that the process id is moto's own.
		out, err := exec.Command(py, "-c", "import sys, moto.server; print(sys.executable)").Output()
		if err != nil {
			return nil, fmt.Errorf("%w: python3 cannot import moto.server; install moto 5 (pip install 'moto[server]')", ErrUnavailable)
		}
		return exec.Command(strings.TrimSpace(string(out)), "-m", "moto.server", "-H", "127.0.0.1", "-p", strconv.Itoa(port)), nil
	}
	nm, err := nodeModules()
	if err != nil {
		return nil, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("%w: node is not on PATH (make test installs Node.js)", ErrUnavailable)
	}
	p := strconv.Itoa(port)
	switch kind {
	case KinesisLocal:
		tls, err := freePort()
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(node, filepath.Join(nm, "kinesis-local", "main.js"))
		cmd.Env = append(os.Environ(), "KINESIS_MOCK_CERT_PATH="+filepath.Join(nm, "kinesis-local", "server.json"),
			"KINESIS_MOCK_PLAIN_PORT="+p, "KINESIS_MOCK_TLS_PORT="+strconv.Itoa(tls), "LOG_LEVEL=WARN",
			"CREATE_STREAM_DURATION=100ms", "DELETE_STREAM_DURATION=100ms", "UPDATE_STREAM_DURATION=100ms",
			"REGISTER_STREAM_CONSUMER_DURATION=100ms", "AWS_REGION="+Region)
		return cmd, nil
	case Kinesalite:
		return exec.Command(node, filepath.Join(nm, "kinesalite", "cli.js"), "--port", p, "--createStreamMs", "50",
			"--deleteStreamMs", "50", "--updateStreamMs", "50"), nil
	case Dynalite:
		return exec.Command(node, filepath.Join(nm, "dynalite", "cli.js"), "--host", "127.0.0.1", "--port", p,
			"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"), nil
	case S3rver:
		return exec.Command(node, filepath.Join(nm, "s3rver", "bin", "s3rver.js"), "-d", filepath.Join(dir, "s3"),
			"-a", "127.0.0.1", "-p", p, "--silent"), nil
	}
	return nil, fmt.Errorf("unknown emulator %q", kind)
}

// nodeModules finds tools/npm/node_modules above the working directory.
func nodeModules() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		nm := filepath.Join(dir, "tools", "npm", "node_modules")
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(nm); err != nil {
				return "", fmt.Errorf("%w: %s is missing; run `bash tools/install.sh` (make test does)", ErrUnavailable, nm)
			}
			return nm, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no go.mod above the working directory", ErrUnavailable)
		}
		dir = parent
	}
}

// freePort asks the kernel for a free port on 127.0.0.1.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the end of a log file, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return path
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return path + ":\n" + string(b)
}

// shared holds the servers of a test binary, one per kind.
var shared struct {
	mu      sync.Mutex
	servers map[Kind]*Server
	errs    map[Kind]error
	dir     string
}

// Require returns the test binary's server of the kind, starting it on first use. When it cannot start, the
// test fails under make test (SDP_REQUIRE_EMULATORS set) and is skipped otherwise.
func Require(t testing.TB, kind Kind) *Server {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.servers == nil {
		shared.servers, shared.errs = map[Kind]*Server{}, map[Kind]error{}
	}
	if s := shared.servers[kind]; s != nil {
		if err := s.exited(); err != nil {
			t.Fatalf("emulator %s at %s exited during the tests: %v (log: %s)", kind, s.Endpoint, err, tail(s.LogPath))
		}
		return s
	}
	err := shared.errs[kind]
	if err == nil {
		if shared.dir == "" {
			shared.dir, err = os.MkdirTemp("", "sdp-emulators-")
		}
		if err == nil {
			var s *Server
			dir := filepath.Join(shared.dir, string(kind))
			if err = os.MkdirAll(dir, 0o755); err == nil {
				if s, err = Start(kind, Options{Dir: dir}); err == nil {
					shared.servers[kind] = s
					return s
				}
			}
		}
		shared.errs[kind] = err
	}
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("emulator %s: %v", kind, err)
	}
	t.Skipf("emulator %s is not available (%v); `make test` installs and starts it", kind, err)
	return nil
}

// Main runs the tests of a binary that uses Require, then stops its servers. Their logs are kept and named
// when the tests fail.
func Main(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	for _, s := range shared.servers {
		s.Stop()
	}
	if shared.dir != "" {
		if code != 0 {
			fmt.Fprintf(os.Stderr, "emulator logs kept in %s\n", shared.dir)
		} else {
			os.RemoveAll(shared.dir)
		}
	}
	return code
}

// Context returns a context bounded for one emulator call sequence in a test.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// exited returns the error of the server's process when it has ended, nil while it runs.
func (s *Server) exited() error {
	select {
	case err := <-s.done:
		s.done <- err
		if err == nil {
			err = errors.New("exit status 0")
		}
		return err
	default:
		return nil
	}
}

// PID is the server's process id.
func (s *Server) PID() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}
