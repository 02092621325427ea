package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// testUser is the unprivileged account the server runs as when the tests
// run as root, because PostgreSQL refuses to start as root.
const testUser = "jitbot-test"

// errNoBinaries means no PostgreSQL server installation was found.
var errNoBinaries = errors.New("PostgreSQL server binaries not found")

// cluster is one running PostgreSQL server and the directory it lives in.
type cluster struct {
	dir      string
	port     int
	password string // superuser password
	cmd      *exec.Cmd
	exited   chan struct{}
	logPath  string
}

// findBinDir returns the newest PostgreSQL bin directory that has initdb
// and postgres in it.
func findBinDir() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(found, func(i, j int) bool {
		return pgVersion(found[i]) > pgVersion(found[j])
	})
	for _, initdb := range found {
		dir := filepath.Dir(initdb)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	if initdb, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(initdb), nil
	}
	return "", errNoBinaries
}

// pgVersion reads the major version from .../postgresql/<major>/bin/initdb.
func pgVersion(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

// runAs returns the credential to run the server with: nil when the tests
// are not root, else the unprivileged test account, created when missing.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(testUser)
	if err != nil {
		add := exec.Command("useradd", "--system", "--no-create-home",
			"--shell", "/usr/sbin/nologin", testUser)
		if out, err := add.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("create user %s: %w: %s", testUser, err, out)
		}
		if u, err = user.Lookup(testUser); err != nil {
			return nil, fmt.Errorf("look up user %s: %w", testUser, err)
		}
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// startCluster runs initdb in a new temporary directory and starts a server
// on a free loopback port. The caller must call stop.
func startCluster() (*cluster, error) {
	bin, err := findBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "jitbot-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("make server directory: %w", err)
	}
	c := &cluster{dir: dir, password: randomHex(16), logPath: filepath.Join(dir, "log")}
	if err := c.init(bin, cred); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// A port picked as free may be taken before the server binds it.
	for attempt := 0; ; attempt++ {
		err = c.start(bin, cred)
		if err == nil || attempt == 2 {
			break
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// init creates the data directory with scram password auth over TCP.
func (c *cluster) init(bin string, cred *syscall.Credential) error {
	if cred != nil {
		if err := os.Chown(c.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("chown server directory: %w", err)
		}
	}
	pwfile := filepath.Join(c.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(c.password+"\n"), 0o600); err != nil {
		return fmt.Errorf("write password file: %w", err)
	}
	defer os.Remove(pwfile)
	if cred != nil {
		if err := os.Chown(pwfile, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("chown password file: %w", err)
		}
	}
	cmd := exec.Command(filepath.Join(bin, "initdb"),
		"--pgdata", filepath.Join(c.dir, "data"), "--username", "postgres",
		"--pwfile", pwfile, "--auth-local", "trust",
		"--auth-host", "scram-sha-256", "--encoding", "UTF8", "--no-sync")
	cmd.Dir = c.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w: %s", err, out)
	}
	return nil
}

// start launches the server and waits until it accepts connections.
func (c *cluster) start(bin string, cred *syscall.Credential) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	logf, err := os.Create(c.logPath)
	if err != nil {
		return fmt.Errorf("create server log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"),
		"-D", filepath.Join(c.dir, "data"), "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+c.dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	c.cmd, c.port, c.exited = cmd, port, make(chan struct{})
	go func() { cmd.Wait(); close(c.exited) }()
	if err := c.waitReady(30 * time.Second); err != nil {
		c.halt()
		return err
	}
	return nil
}

// waitReady polls with real connection attempts until the server answers,
// it exits, or the bound passes.
func (c *cluster) waitReady(bound time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := pgx.Connect(ctx, c.dsn("postgres"))
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-c.exited:
			return fmt.Errorf("postgres exited at start: %s", c.logTail())
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready after %s: %w: %s", bound, err, c.logTail())
		case <-tick.C:
		}
	}
}

// stop shuts the server down and removes its directory.
func (c *cluster) stop() {
	c.halt()
	os.RemoveAll(c.dir)
}

// halt asks for a fast shutdown and waits for the server to exit.
func (c *cluster) halt() {
	if c.cmd != nil && c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.exited:
		case <-time.After(30 * time.Second):
			c.cmd.Process.Kill()
			<-c.exited
		}
	}
}

// dsn is the superuser connection string for database db.
func (c *cluster) dsn(db string) string {
	return fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/%s?sslmode=disable",
		c.password, c.port, db)
}

func (c *cluster) logTail() string {
	b, _ := os.ReadFile(c.logPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
