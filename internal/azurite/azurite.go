// Package azurite starts Azurite, the Azure Blob Storage emulator, for
// tests: once per test binary, on a free loopback port, in memory, by the
// first test that needs it. The test binary's TestMain calls Stop.
//
// Azurite is found through AZURITE_BIN, else in .tools/azurite at the
// module root (see scripts/azurite.sh), else as azurite-blob on PATH.
// Without it the blob tests skip, unless AZURITE_REQUIRED=1 (as .ci/run
// sets it): then they fail, so that CI never passes without having run
// them.
package azurite

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

// AccountKey is the emulator's well-known development key.
const AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

// Account is the emulator's development account.
const Account = "devstoreaccount1"

// Emulator is a running Azurite.
type Emulator struct {
	cmd    *exec.Cmd
	exited chan error
	dir    string
	Port   int
	err    error
}

var (
	once sync.Once
	emu  *Emulator
)

// ConnString is the connection string of the running emulator.
func (a *Emulator) ConnString() string {
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=http://127.0.0.1:%d/%s;", Account, AccountKey, a.Port, Account)
}

// ServiceURL is the emulator's path-style service URL.
func (a *Emulator) ServiceURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/%s", a.Port, Account)
}

// Getenv is an environment holding only the emulator's connection string
// (AZURE_STORAGE_CONNECTION_STRING), for code that reads its credentials
// from the environment.
func (a *Emulator) Getenv(k string) string {
	if k == "AZURE_STORAGE_CONNECTION_STRING" {
		return a.ConnString()
	}
	return ""
}

// NewContainer creates a container of its own for one test and returns its
// name.
func (a *Emulator) NewContainer(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "t" + hex.EncodeToString(b)
	c, err := container.NewClientFromConnectionString(a.ConnString(), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return name
}

// Bin is the Azurite executable, or "" if none is installed.
func Bin() string {
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

// Need returns the running emulator, starting it the first time. Without
// Azurite the test skips, or fails under AZURITE_REQUIRED=1.
func Need(t testing.TB) *Emulator {
	t.Helper()
	once.Do(func() {
		bin := Bin()
		if bin == "" {
			emu = &Emulator{err: fmt.Errorf("Azurite is not installed: run scripts/azurite.sh install (or set AZURITE_BIN)")}
			return
		}
		emu = start(bin)
	})
	if emu.err != nil {
		if os.Getenv("AZURITE_REQUIRED") == "1" {
			t.Fatalf("AZURITE_REQUIRED=1: %v", emu.err)
		}
		t.Skipf("skipping the blob test: %v", emu.err)
	}
	return emu
}

func start(bin string) *Emulator {
	var last error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return &Emulator{err: err}
		}
		dir, err := os.MkdirTemp("", "azurite-*")
		if err != nil {
			return &Emulator{err: err}
		}
		cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port),
			"--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--silent")
		cmd.Dir = dir // Azurite writes nothing with --inMemoryPersistence; keep it out of the tree anyway
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			os.RemoveAll(dir)
			return &Emulator{err: fmt.Errorf("start %s: %w", bin, err)}
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		deadline := time.After(60 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				c.Close()
				return &Emulator{cmd: cmd, exited: exited, dir: dir, Port: port}
			}
			select {
			case err := <-exited:
				last = fmt.Errorf("azurite exited before listening on port %d: %v", port, err)
			case <-deadline:
				cmd.Process.Kill()
				<-exited
				os.RemoveAll(dir)
				return &Emulator{err: fmt.Errorf("azurite did not listen on port %d within 60 s", port)}
			case <-time.After(100 * time.Millisecond):
				continue
			}
			break
		}
		os.RemoveAll(dir)
	}
	return &Emulator{err: last}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop stops the emulator if a test started it; TestMain calls it after
// the tests.
func Stop() {
	if emu != nil && emu.cmd != nil {
		emu.cmd.Process.Kill()
		<-emu.exited
		os.RemoveAll(emu.dir)
	}
}
