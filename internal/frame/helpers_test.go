package frame

import (
	"fmt"
	"reflect"
	"testing"
)

// The tests use these few helpers rather than testify: testify v1.12.1's
// assert package imports go.yaml.in/yaml/v3, which has no go.sum entry in
// this module yet.

// equal reports a test error when got is not deeply equal to want.
func equal(t testing.TB, want, got any, msg ...any) bool {
	t.Helper()
	if reflect.DeepEqual(want, got) {
		return true
	}
	t.Errorf("%s\nwant: %s\n got: %s", fmt.Sprint(msg...), show(want), show(got))
	return false
}

// mustEqual is equal but stops the test.
func mustEqual(t testing.TB, want, got any, msg ...any) {
	t.Helper()
	if !equal(t, want, got, msg...) {
		t.FailNow()
	}
}

// check reports a test error when cond is false.
func check(t testing.TB, cond bool, msg ...any) bool {
	t.Helper()
	if !cond {
		t.Error(msg...)
	}
	return cond
}

// mustCheck is check but stops the test.
func mustCheck(t testing.TB, cond bool, msg ...any) {
	t.Helper()
	if !check(t, cond, msg...) {
		t.FailNow()
	}
}

// show formats values with their byte slices as quoted text.
func show(v any) string {
	switch v := v.(type) {
	case []byte:
		return fmt.Sprintf("%q", v)
	case string:
		return fmt.Sprintf("%q", v)
	case Field:
		return fmt.Sprintf("{Found:%v Dup:%v Kind:%v Raw:%q}", v.Found, v.Dup, v.Kind, v.Raw)
	case Frame:
		return fmt.Sprintf("{Kind:%v Route:%s Ref:%s}", v.Kind, show(v.Route), show(v.Ref))
	}
	return fmt.Sprintf("%#v", v)
}
