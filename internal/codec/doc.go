// Package codec decodes and encodes JSON for plain Go types exactly as
// encoding/json does, faster, or declines so the caller can use
// encoding/json.
//
// NewDecoder and NewEncoder plan a type once: for each struct its JSON
// fields (names, offsets, omitempty) and a plan for each field's type. Decode
// and Append then walk the value with unsafe pointer arithmetic instead of a
// reflect.Value per field; the decoder is a single-pass parser that checks
// the whole text as encoding/json's scanner does.
//
// # Exactness
//
// The definition of correct is encoding/json (v1, the default
// implementation in Go 1.25 and 1.26):
//
//   - Decoder.Decode(data, p) reports true only when json.Unmarshal(data, v),
//     v pointing to a zero value, would return nil and leave a value
//     reflect.DeepEqual to what Decode left at p.
//   - Encoder.Append(dst, p) reports true only when it appended exactly the
//     bytes json.Marshal returns for the value.
//
// The differential fuzz targets (FuzzDecode, FuzzEncode) check exactly this
// against encoding/json.
//
// # The fallback rule
//
// NewDecoder and NewEncoder return nil for a type that contains anything whose
// encoding/json behaviour is not replicated here: interfaces, arrays,
// []byte (base64), channels, functions, complex numbers, json.Number, any
// type with a (Un)MarshalJSON or (Un)MarshalText method on T or *T, maps
// whose key is not of string kind, and structs with embedded fields,
// ",string" fields, JSON names used twice (encoding/json's dominance rules)
// or more than 64 fields; the encoder also refuses ",omitzero". Use
// encoding/json for such types.
//
// For a supported type, Decode and Append report false, and the caller must
// use encoding/json for that one value, whenever they are not sure to give
// encoding/json's result. Decode declines on: any syntax error (the caller
// then gets encoding/json's exact error); a type mismatch; an integer literal
// with a fraction or exponent, or out of the type's range; a float out of
// range; a key that is not an exact field name but that encoding/json might
// match case-insensitively (a key equal to a field name but for ASCII case, any
// non-ASCII key, or any inexact key if some field name is not ASCII); a key
// repeated in one object (encoding/json merges into the earlier value); a
// string holding invalid UTF-8 (encoding/json replaces it); nesting deeper
// than 1000. Unknown keys are otherwise ignored, as encoding/json ignores
// them. Append declines on NaN and infinite floats (json.Marshal fails) and on
// pointers, slices and maps nested more than 1000 deep (a cycle, perhaps).
//
// After a false from Decode the value is partly decoded: zero it before
// calling json.Unmarshal. After a false from Append, dst is returned with its
// original length.
//
// # Memory
//
// Decode writes only into the value at p and memory it allocates with the
// right Go type (reflect.New for pointers, reflect's Grow for slices, reflect
// for maps), so the garbage collector sees every pointer. Decoded strings are
// fresh copies, never sharing data's memory. For structs of scalars and
// strings it allocates only the strings; Append does not allocate when dst
// has room (maps excepted: their keys are sorted in a temporary slice).
package codec
