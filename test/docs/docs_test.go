// Package docs checks the claims of SECURITY.md and FUZZING.md against the code: every test the
// threat matrix names exists, and every fuzz target is documented with its long run, so that
// neither document can claim a proof that was renamed, deleted or never run.
package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// root is the repository's top directory.
var root = filepath.Join("..", "..")

var (
	// fileRef names a test file and a function of it: `dir/x_test.go: TestName`.
	fileRef = regexp.MustCompile(`^([\w./-]+\.go): ((?:Test|Fuzz|Benchmark|Example)\w*)$`)
	// pathRef names a file alone: `dir/x.go`.
	pathRef = regexp.MustCompile(`^[\w./-]+\.go$`)
	// funcRef names a function: of the file named before it in the cell, or of any file.
	funcRef = regexp.MustCompile(`^(?:Test|Fuzz|Benchmark|Example)\w*$`)
	quoted  = regexp.MustCompile("`([^`]+)`")
	funcDef = regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark|Example)\w*)\(`)
)

// testFuncs returns the test, fuzz, benchmark and example functions declared in the
// repository's Go test files, by file (relative to root).
func testFuncs(t *testing.T) map[string]map[string]bool {
	t.Helper()
	byFile := map[string]map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".") && path != root) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") && !strings.Contains(path, "storetest") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		byFile[filepath.ToSlash(rel)] = map[string]bool{}
		for _, m := range funcDef.FindAllStringSubmatch(string(src), -1) {
			byFile[filepath.ToSlash(rel)][m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return byFile
}

// tableRows returns the cells of each row of the Markdown table under the heading.
func tableRows(t *testing.T, doc, heading string) [][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, doc))
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "## ") {
			in = line == heading
			continue
		}
		if !in || !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") {
			continue
		}
		rows = append(rows, strings.Split(strings.Trim(line, "|"), "|"))
	}
	if len(rows) < 3 {
		t.Fatalf("%s: %d rows under %q; the table was not read", doc, len(rows), heading)
	}
	return rows[1:] // the header row
}

// TestSecurityMatrixNamesExistingTests: each row of SECURITY.md's threat matrix names a test,
// and every test it names is declared: `file: Name` and the `Name`s after it in that file, a
// `Name` after a file named alone, or before any file, in some test file of the repository.
func TestSecurityMatrixNamesExistingTests(t *testing.T) {
	funcs := testFuncs(t)
	anywhere := map[string]bool{}
	for _, names := range funcs {
		for n := range names {
			anywhere[n] = true
		}
	}
	named := 0
	for _, row := range tableRows(t, "SECURITY.md", "## Threat matrix") {
		file, inRow := "", 0
		for _, m := range quoted.FindAllStringSubmatch(strings.Join(row[2:], "|"), -1) {
			ref := m[1]
			switch r := fileRef.FindStringSubmatch(ref); {
			case r != nil:
				file = r[1]
				if _, ok := funcs[file]; !ok {
					t.Errorf("SECURITY.md names %s, which is no test file of the repository", file)
				} else if !funcs[file][r[2]] {
					t.Errorf("SECURITY.md names %s in %s, which does not declare it", r[2], file)
				}
			case pathRef.MatchString(ref):
				file = ""
				continue
			case funcRef.MatchString(ref):
				if file != "" && !funcs[file][ref] || file == "" && !anywhere[ref] {
					t.Errorf("SECURITY.md names %s (in %q), which is not declared there", ref, file)
				}
			default:
				continue
			}
			inRow++
		}
		if inRow == 0 {
			t.Errorf("a row of SECURITY.md names no test: %.80s", strings.TrimSpace(row[0]))
		}
		named += inRow
	}
	t.Logf("SECURITY.md's threat matrix names %d test functions", named)
}

// TestFuzzingDocumentsEveryTarget: every fuzz target of the repository is in FUZZING.md's
// table of targets, with its package, and has a long run of at least 1,000,000 executions in
// the table of long runs, with no crasher left; the tables name no target that does not exist.
func TestFuzzingDocumentsEveryTarget(t *testing.T) {
	targets := map[string]string{} // name → package directory
	for file, names := range testFuncs(t) {
		for n := range names {
			if strings.HasPrefix(n, "Fuzz") {
				targets[n] = filepath.ToSlash(filepath.Dir(file))
			}
		}
	}
	listed := map[string]bool{}
	for _, row := range tableRows(t, "FUZZING.md", "## Targets") {
		for _, m := range quoted.FindAllStringSubmatch(row[1], -1) {
			pkg, ok := targets[m[1]]
			switch {
			case !ok:
				t.Errorf("FUZZING.md lists %s, which no test file declares", m[1])
			case strings.TrimSpace(row[2]) != pkg:
				t.Errorf("FUZZING.md lists %s in %q; it is in %s", m[1], strings.TrimSpace(row[2]), pkg)
			}
			listed[m[1]] = true
		}
	}
	ran := map[string]bool{}
	for _, row := range tableRows(t, "FUZZING.md", "## Long run") {
		name := strings.Trim(strings.TrimSpace(row[1]), "`")
		if _, ok := targets[name]; !ok {
			t.Errorf("FUZZING.md's long run names %s, which no test file declares", name)
		}
		execs, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(row[2]), ",", ""))
		switch crashers := strings.TrimSpace(row[5]); {
		case err != nil:
			t.Errorf("FUZZING.md's long run of %s: executions %q", name, row[2])
		case crashers != "0" && !strings.HasPrefix(crashers, "0 ("):
			t.Errorf("FUZZING.md's long run of %s left crashers: %s", name, crashers)
		case execs >= 1_000_000:
			ran[name] = true
		}
	}
	for name := range targets {
		if !listed[name] {
			t.Errorf("fuzz target %s is not in FUZZING.md's table of targets", name)
		}
		if !ran[name] {
			t.Errorf("fuzz target %s has no long run of 1,000,000 executions in FUZZING.md", name)
		}
	}
}
