package schema

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// suiteRel is where the official JSON Schema Test Suite is, relative to the
// folder that holds the repository (shared/ beside it).
const suiteRel = "shared/testdata/json-schema-test-suite/draft2020-12"

// findSuite returns the suite's draft 2020-12 folder: $WSROUTE_SCHEMA_SUITE,
// or suiteRel in an ancestor of the working directory.
func findSuite() (string, bool) {
	if dir := os.Getenv("WSROUTE_SCHEMA_SUITE"); dir != "" {
		return dir, true
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for d := wd; ; d = filepath.Dir(d) {
		cand := filepath.Join(d, suiteRel)
		if fi, err := os.Stat(cand); err == nil && fi.IsDir() {
			return cand, true
		}
		if filepath.Dir(d) == d {
			return "", false
		}
	}
}

// suiteDir returns the suite folder. It skips the test when there is none,
// except under CI, where it fails.
func suiteDir(t testing.TB) string {
	t.Helper()
	dir, ok := findSuite()
	if ok {
		return dir
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("JSON Schema Test Suite not found: no %s above the working directory", suiteRel)
	}
	t.Skipf("JSON Schema Test Suite not found: no %s above the working directory (set WSROUTE_SCHEMA_SUITE)", suiteRel)
	return ""
}

type suiteGroup struct {
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Tests       []struct {
		Description string          `json:"description"`
		Data        json.RawMessage `json:"data"`
		Valid       bool            `json:"valid"`
	} `json:"tests"`
}

// loadSuite returns the groups of every file of the suite folder, by file.
func loadSuite(t testing.TB) map[string][]suiteGroup {
	t.Helper()
	suite, err := readSuite(suiteDir(t))
	require.NoError(t, err)
	return suite
}

func readSuite(dir string) (map[string][]suiteGroup, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no suite files in %s", dir)
	}
	out := map[string][]suiteGroup{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var groups []suiteGroup
		if err := json.Unmarshal(data, &groups); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out[filepath.Base(f)] = groups
	}
	return out, nil
}

// TestFastSuite runs the official suite through the fast program: for each
// group whose schema has one, the fast verdict of every test must be a
// decision, equal to the suite's and to jsonschema's. For every test of
// every group, ValidateJSON must equal Decode + Validate.
func TestFastSuite(t *testing.T) {
	t.Parallel()
	suite := loadSuite(t)
	names := make([]string, 0, len(suite))
	for name := range suite {
		names = append(names, name)
	}
	slices.Sort(names)
	var groups, skipped, fastGroups, slowGroups, fastTests, slowTests int
	for _, name := range names {
		for gi, g := range suite[name] {
			groups++
			s, err := Compile(FromBytes(g.Schema))
			if err != nil {
				skipped++ // remote refs, or a schema jsonschema refuses
				t.Logf("skipped %s #%d %q: %v", name, gi, g.Description, err)
				continue
			}
			if s.Fast() {
				fastGroups++
			} else {
				slowGroups++
			}
			for _, tc := range g.Tests {
				where := name + ": " + g.Description + ": " + tc.Description
				v, err := Decode(tc.Data)
				require.NoError(t, err, where)
				want := s.Validate(v)
				got, err := s.ValidateJSON(tc.Data)
				require.NoError(t, err, where)
				assert.Equal(t, want, got, "ValidateJSON: %s", where)
				if !s.Fast() {
					slowTests++
					continue
				}
				fastTests++
				assert.Equal(t, tc.Valid, want == nil, "jsonschema disagrees with the suite: %s", where)
				verdict := s.verdict(tc.Data, nil)
				wantVerdict := vInvalid
				if tc.Valid {
					wantVerdict = vValid
				}
				assert.Equal(t, wantVerdict, verdict, "fast verdict: %s: %s", where, tc.Data)
			}
		}
	}
	t.Logf("suite: %d groups in %d files; %d skipped (do not compile); fast program: %d groups, %d tests; slow path only: %d groups, %d tests",
		groups, len(names), skipped, fastGroups, fastTests, slowGroups, slowTests)
	assert.Positive(t, fastTests)
}
