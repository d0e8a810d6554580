package schema

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeObject(t *testing.T) {
	t.Parallel()
	v, err := DecodeObject([]byte(`{"action":"x","ref":1e5000,"title":"t","n":{"action":1}}`), "action", "ref")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"title": "t", "n": map[string]any{"action": json.Number("1")}}, v,
		"top-level keys skipped (and their numbers not checked), nested ones kept")
	_, err = DecodeObject([]byte(`{"n":1e5000}`), "action")
	assert.ErrorContains(t, err, "1e5000", "the number limits apply to the rest")
	_, err = DecodeObject([]byte(`{"n":`), "action")
	assert.Error(t, err)
}
