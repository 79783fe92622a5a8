package export

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// Azurite is started once per test binary, on a free loopback port, in
// memory, by the first test that needs it, and stopped by TestMain.
//
// It is found through AZURITE_BIN, else in .tools/azurite (see
// scripts/azurite.sh), else as azurite-blob on PATH. Without it the blob
// tests skip, unless AZURITE_REQUIRED=1 (as .ci/run sets it): then they
// fail, so that CI never passes without having run them.

// azuriteAccountKey is the emulator's well-known development key.
const azuriteAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

type azurite struct {
	cmd    *exec.Cmd
	exited chan error
	dir    string
	port   int
	err    error
}

var (
	azOnce sync.Once
	az     *azurite
)

// connString is the connection string of the running emulator.
func (a *azurite) connString() string {
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=%s;BlobEndpoint=http://127.0.0.1:%d/devstoreaccount1;", azuriteAccountKey, a.port)
}

// serviceURL is the emulator's path-style service URL.
func (a *azurite) serviceURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/devstoreaccount1", a.port)
}

func azuriteBin() string {
	if b := os.Getenv("AZURITE_BIN"); b != "" {
		return b
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				b := filepath.Join(d, ".tools", "azurite", "node_modules", ".bin", "azurite-blob")
				if _, err := os.Stat(b); err == nil {
					return b
				}
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if b, err := exec.LookPath("azurite-blob"); err == nil {
		return b
	}
	return ""
}

// needAzurite returns the running emulator, starting it the first time.
func needAzurite(t testing.TB) *azurite {
	t.Helper()
	azOnce.Do(func() {
		bin := azuriteBin()
		if bin == "" {
			az = &azurite{err: fmt.Errorf("Azurite is not installed: run scripts/azurite.sh install (or set AZURITE_BIN)")}
			return
		}
		az = startAzurite(bin)
	})
	if az.err != nil {
		if os.Getenv("AZURITE_REQUIRED") == "1" {
			t.Fatalf("AZURITE_REQUIRED=1: %v", az.err)
		}
		t.Skipf("skipping the blob test: %v", az.err)
	}
	return az
}

func startAzurite(bin string) *azurite {
	var last error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return &azurite{err: err}
		}
		dir, err := os.MkdirTemp("", "azurite-*")
		if err != nil {
			return &azurite{err: err}
		}
		cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port),
			"--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--silent")
		cmd.Dir = dir // Azurite writes nothing with --inMemoryPersistence; keep it out of the tree anyway
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			os.RemoveAll(dir)
			return &azurite{err: fmt.Errorf("start %s: %w", bin, err)}
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		deadline := time.After(60 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				c.Close()
				return &azurite{cmd: cmd, exited: exited, dir: dir, port: port}
			}
			select {
			case err := <-exited:
				last = fmt.Errorf("azurite exited before listening on port %d: %v", port, err)
			case <-deadline:
				cmd.Process.Kill()
				<-exited
				os.RemoveAll(dir)
				return &azurite{err: fmt.Errorf("azurite did not listen on port %d within 60 s", port)}
			case <-time.After(100 * time.Millisecond):
				continue
			}
			break
		}
		os.RemoveAll(dir)
	}
	return &azurite{err: last}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func stopAzurite() {
	if az != nil && az.cmd != nil {
		az.cmd.Process.Kill()
		<-az.exited
		os.RemoveAll(az.dir)
	}
}

// newContainer creates a container of its own for one test.
func newContainer(t testing.TB, a *azurite) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "t" + hex.EncodeToString(b)
	c, err := container.NewClientFromConnectionString(a.connString(), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return name
}
