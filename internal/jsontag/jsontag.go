// Package jsontag holds encoding/json's rule for json struct tags, shared by
// the packages that replicate what encoding/json does with a type (the
// codec, the schema reflector).
package jsontag

import (
	"strings"
	"unicode"
)

// ValidName reports whether s can name a JSON member in a tag; encoding/json
// ignores a tag name that cannot and uses the field's name.
func ValidName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}
