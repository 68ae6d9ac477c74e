package rpc

import (
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// invalidUTF8Field names the first string field of the encoded message b
// (of descriptor md) that is not valid UTF-8, as the root package's checks
// name fields ("key", "events[3].headers"), so a request the wire could
// not decode for that reason is refused as the embedded node and the
// client refuse the same argument. ok is false when no such field is
// found (a malformed message).
func invalidUTF8Field(md protoreflect.MessageDescriptor, b []byte) (field string, ok bool) {
	seen := map[protowire.Number]int{} // occurrences so far: a repeated field's index
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", false
		}
		b = b[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return "", false
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return "", false
		}
		b = b[n:]
		fd := md.Fields().ByNumber(num)
		if fd == nil {
			continue
		}
		name := string(fd.Name())
		if fd.IsList() {
			name += "[" + strconv.Itoa(seen[num]) + "]"
			seen[num]++
		}
		switch {
		case fd.Kind() == protoreflect.StringKind:
			if !utf8.Valid(v) {
				return name, true
			}
		case fd.IsMap():
			if _, bad := invalidUTF8Field(fd.Message(), v); bad {
				return name, true
			}
		case fd.Kind() == protoreflect.MessageKind:
			if sub, bad := invalidUTF8Field(fd.Message(), v); bad {
				return name + "." + sub, true
			}
		}
	}
	return "", false
}
