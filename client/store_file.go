// A file Store under the user's config directory: directory 0700, files 0600, atomic replace.

package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ConfigDirEnv names the environment variable that overrides DefaultConfigDir.
const ConfigDirEnv = "MCPAUTH_CONFIG_DIR"

// DefaultConfigDir returns $MCPAUTH_CONFIG_DIR, else os.UserConfigDir()/mcpauth.
func DefaultConfigDir() (string, error) {
	if d := os.Getenv(ConfigDirEnv); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no config directory (set %s): %w", ConfigDirEnv, err)
	}
	return filepath.Join(d, "mcpauth"), nil
}

// FileStore keeps one JSON file per Key in a directory (created 0700 on first write, files
// 0600). A write goes to a temporary file that is synced and renamed over the old one, so
// a reader, or a crash, never sees a partial file.
type FileStore struct {
	dir string
}

// NewFileStore returns a FileStore in dir.
func NewFileStore(dir string) *FileStore { return &FileStore{dir: dir} }

// Dir returns the store's directory.
func (s *FileStore) Dir() string { return s.dir }

const credentialsSuffix = ".credentials.json"

// path names the file of key: a hash, since URLs are not file names.
func (s *FileStore) path(key Key) string {
	h := sha256.Sum256([]byte(key.Resource + "\x00" + key.Issuer))
	return filepath.Join(s.dir, hex.EncodeToString(h[:16])+credentialsSuffix)
}

// Get implements Store.
func (s *FileStore) Get(_ context.Context, key Key) (*Entry, error) {
	b, err := os.ReadFile(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("credentials for %s at %s: %w", key.Resource, key.Issuer, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	e, err := decodeEntry(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.path(key), err)
	}
	if e.Key != key { // a hash collision, or a file copied by hand
		return nil, fmt.Errorf("credentials for %s at %s: %w", key.Resource, key.Issuer, ErrNotFound)
	}
	return e, nil
}

// Put implements Store.
func (s *FileStore) Put(_ context.Context, e *Entry) error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(s.dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.dir, ".tmp-*") // created 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.path(e.Key))
}

// Delete implements Store.
func (s *FileStore) Delete(_ context.Context, key Key) error {
	err := os.Remove(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// List implements Store.
func (s *FileStore) List(_ context.Context, resource string) ([]*Entry, error) {
	des, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Entry
	for _, de := range des {
		if !strings.HasSuffix(de.Name(), credentialsSuffix) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, de.Name()))
		if err != nil {
			return nil, err
		}
		e, err := decodeEntry(b)
		if err != nil || e.Resource != resource || s.path(e.Key) != filepath.Join(s.dir, de.Name()) {
			continue // another server's, or not ours
		}
		out = append(out, e)
	}
	sortNewestFirst(out)
	return out, nil
}
