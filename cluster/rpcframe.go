package cluster

import (
	"errors"
	"fmt"
)

// Raft's NetworkTransport frames every request as one type byte followed by
// one msgpack value, and InstallSnapshot's value by the snapshot body of the
// request's Size bytes. Nothing announces a value's length, so raft's
// decoder allocates whatever a length field declares as it reads. A
// frameScanner follows that framing over the bytes of an inbound
// connection, before raft's decoder sees them, and refuses a request whose
// encoding exceeds the budgets; it only tracks lengths and counts, and
// never buffers.

// Raft's rpc types (net_transport.go); a request of another type is refused.
const maxRaftRPCType = 4

const rpcInstallSnapshotType = 2

// maxFrameDepth bounds container nesting: raft's requests nest four deep.
const maxFrameDepth = 32

// valueCharge is what each msgpack value of a request is charged to the
// inflight budget besides its bytes: the decoder may allocate a Log (about
// 100 bytes) for a one-byte value.
const valueCharge = 128

// maxFieldBytes bounds one str, bin or ext value: the largest raft sends
// is a log entry's Data, under maxEntryBytes. Raft's decoder reads a long
// field in 256 KiB steps, copying what it has at each step, so a field of
// n bytes costs n*n/512 KiB of allocations: bounding fields keeps a
// request's cost proportional to its bytes.
const maxFieldBytes = maxEntryBytes + 64<<10

// ErrRaftMessageTooLarge is the cause of closing a raft connection whose
// request exceeds MaxMessageBytes, MaxMessageValues or the inflight budget.
var ErrRaftMessageTooLarge = errors.New("cluster: raft message over budget")

// ErrRaftMessageMalformed is the cause of closing a raft connection whose
// bytes are not a raft request.
var ErrRaftMessageMalformed = errors.New("cluster: malformed raft message")

const (
	stType  = iota // next byte is a request's type
	stValue        // next byte starts a msgpack value
	stHdr          // assembling a value's length or number bytes
	stSkip         // inside a str, bin or ext payload
	stBody         // inside an InstallSnapshot body
)

type frameScanner struct {
	maxBytes  int64
	maxValues int64
	charge    func(delta int64) error // inflight budget; nil: none

	state   int
	msgType byte
	bytes   int64 // of the current request (type byte and value)
	values  int64
	charged int64 // bytes charged to the inflight budget for this request

	pendingValues int64 // values started in this scan call, not yet charged
	stack         []uint64
	skip          uint64 // payload bytes left (stSkip) or body bytes left (stBody)

	lead    byte // first byte of the value whose header is assembled
	hdr     [8]byte
	hdrLen  int
	hdrNeed int
	hdrKind int

	// Top-level keys, to learn InstallSnapshot's Size.
	topMap  bool
	isKey   bool // the value being read is a top-level key
	capture bool
	key     []byte
	lastKey string
	size    int64
}

const (
	kindNumber = iota // the header bytes are the value
	kindStr
	kindBin
	kindExt
	kindArray
	kindMap
)

func (s *frameScanner) betweenRequests() bool { return s.state == stType }

// release returns this request's charge to the inflight budget.
func (s *frameScanner) release() {
	if s.charge != nil && s.charged > 0 {
		_ = s.charge(-s.charged)
	}
	s.charged = 0
}

func (s *frameScanner) tooLarge(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRaftMessageTooLarge, fmt.Sprintf(format, args...))
}

func (s *frameScanner) malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRaftMessageMalformed, fmt.Sprintf(format, args...))
}

// scan follows p, the next bytes read from the connection.
func (s *frameScanner) scan(p []byte) error {
	var pending int64 // bytes of the current request in p, not yet charged
	for len(p) > 0 {
		switch s.state {
		case stType:
			s.release()
			pending, s.pendingValues = 0, 0
			t := p[0]
			p = p[1:]
			if t > maxRaftRPCType {
				return s.malformed("unknown request type %d", t)
			}
			s.msgType, s.bytes, s.values = t, 0, 0
			s.stack = append(s.stack[:0], 1)
			s.topMap, s.isKey, s.lastKey, s.size = false, false, "", -1
			s.state = stValue
			pending++
			if err := s.count(1); err != nil {
				return err
			}
		case stValue:
			b := p[0]
			p = p[1:]
			pending++
			if err := s.count(1); err != nil {
				return err
			}
			if err := s.startValue(b); err != nil {
				return err
			}
		case stHdr:
			n := min(s.hdrNeed-s.hdrLen, len(p))
			copy(s.hdr[s.hdrLen:], p[:n])
			s.hdrLen += n
			p = p[n:]
			pending += int64(n)
			if err := s.count(int64(n)); err != nil {
				return err
			}
			if s.hdrLen == s.hdrNeed {
				if err := s.endHeader(); err != nil {
					return err
				}
			}
		case stSkip:
			n := min(s.skip, uint64(len(p)))
			if s.capture {
				s.key = append(s.key, p[:n]...)
			}
			s.skip -= n
			p = p[n:]
			pending += int64(n)
			if err := s.count(int64(n)); err != nil {
				return err
			}
			if s.skip == 0 {
				if err := s.endValue(); err != nil {
					return err
				}
			}
		case stBody:
			n := min(s.skip, uint64(len(p)))
			s.skip -= n
			p = p[n:]
			if s.skip == 0 {
				s.state = stType
			}
		}
	}
	pending += s.pendingValues * valueCharge
	s.pendingValues = 0
	if s.charge != nil && pending > 0 {
		if err := s.charge(pending); err != nil {
			return err
		}
		s.charged += pending
	}
	return nil
}

// count adds n bytes to the current request.
func (s *frameScanner) count(n int64) error {
	s.bytes += n
	if s.bytes > s.maxBytes {
		return s.tooLarge("request of type %d is over %d bytes (MaxMessageBytes)", s.msgType, s.maxBytes)
	}
	return nil
}

func (s *frameScanner) startValue(b byte) error {
	s.values++
	s.pendingValues++
	if s.values > s.maxValues {
		return s.tooLarge("request of type %d has over %d values (MaxMessageValues)", s.msgType, s.maxValues)
	}
	top := len(s.stack) - 1
	if top < 0 {
		return s.malformed("value after the end of the request")
	}
	// A top-level map's even positions (counting down from 2n) are keys.
	s.isKey = top == 1 && s.topMap && s.stack[1]%2 == 0
	s.stack[top]--
	s.lead = b
	s.hdrLen = 0
	switch {
	case b <= 0x7f, b >= 0xe0, b == 0xc0, b == 0xc2, b == 0xc3:
		s.hdrKind, s.hdrNeed = kindNumber, 0
		return s.endHeader()
	case b <= 0x8f:
		return s.open(kindMap, uint64(b&0x0f))
	case b <= 0x9f:
		return s.open(kindArray, uint64(b&0x0f))
	case b <= 0xbf:
		return s.payload(kindStr, uint64(b&0x1f))
	}
	switch b {
	case 0xc4, 0xc5, 0xc6:
		s.hdrKind, s.hdrNeed = kindBin, 1<<(b-0xc4)
	case 0xc7, 0xc8, 0xc9:
		s.hdrKind, s.hdrNeed = kindExt, 1<<(b-0xc7)
	case 0xca:
		s.hdrKind, s.hdrNeed = kindNumber, 4
	case 0xcb:
		s.hdrKind, s.hdrNeed = kindNumber, 8
	case 0xcc, 0xcd, 0xce, 0xcf:
		s.hdrKind, s.hdrNeed = kindNumber, 1<<(b-0xcc)
	case 0xd0, 0xd1, 0xd2, 0xd3:
		s.hdrKind, s.hdrNeed = kindNumber, 1<<(b-0xd0)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return s.payload(kindExt, 1+1<<(b-0xd4))
	case 0xd9, 0xda, 0xdb:
		s.hdrKind, s.hdrNeed = kindStr, 1<<(b-0xd9)
	case 0xdc, 0xdd:
		s.hdrKind, s.hdrNeed = kindArray, 2<<(b-0xdc)
	case 0xde, 0xdf:
		s.hdrKind, s.hdrNeed = kindMap, 2<<(b-0xde)
	default:
		return s.malformed("byte 0x%02x starts no msgpack value", b)
	}
	s.state = stHdr
	return nil
}

func (s *frameScanner) hdrUint() uint64 {
	var v uint64
	for _, c := range s.hdr[:s.hdrLen] {
		v = v<<8 | uint64(c)
	}
	return v
}

func (s *frameScanner) endHeader() error {
	switch s.hdrKind {
	case kindNumber:
		if !s.isKey && s.lastKey == "Size" && len(s.stack) == 2 {
			s.size = s.intValue()
		}
		return s.endValue()
	case kindStr:
		return s.payload(kindStr, s.hdrUint())
	case kindBin:
		return s.payload(kindBin, s.hdrUint())
	case kindExt:
		return s.payload(kindExt, s.hdrUint()+1)
	case kindArray:
		return s.open(kindArray, s.hdrUint())
	default:
		return s.open(kindMap, s.hdrUint())
	}
}

// intValue decodes the integer just read; -1 for anything else.
func (s *frameScanner) intValue() int64 {
	b := s.lead
	switch {
	case b <= 0x7f:
		return int64(b)
	case b >= 0xcc && b <= 0xcf:
		v := s.hdrUint()
		if v > 1<<62 {
			return -1
		}
		return int64(v)
	case b >= 0xd0 && b <= 0xd3:
		v := s.hdrUint()
		shift := 64 - 8*uint(s.hdrLen)
		return int64(v<<shift) >> shift
	}
	return -1
}

// payload starts n bytes of str, bin or ext data.
func (s *frameScanner) payload(kind int, n uint64) error {
	if n > maxFieldBytes {
		return s.tooLarge("request of type %d declares a field of %d bytes, over %d", s.msgType, n, maxFieldBytes)
	}
	if n > uint64(s.maxBytes) || int64(n) > s.maxBytes-s.bytes {
		return s.tooLarge("request of type %d declares a field of %d bytes, over the %d bytes of a request (MaxMessageBytes)", s.msgType, n, s.maxBytes)
	}
	s.capture = s.isKey && kind == kindStr && n <= 32
	s.key = s.key[:0]
	if n == 0 {
		return s.endValue()
	}
	s.skip = n
	s.state = stSkip
	return nil
}

// open starts a container of n entries.
func (s *frameScanner) open(kind int, n uint64) error {
	if kind == kindMap {
		if len(s.stack) == 1 {
			s.topMap = true
		}
		n *= 2
	}
	if n > uint64(s.maxValues) || s.values+int64(n) > s.maxValues {
		return s.tooLarge("request of type %d declares %d values, over %d (MaxMessageValues)", s.msgType, n, s.maxValues)
	}
	if n == 0 {
		return s.endValue()
	}
	if len(s.stack) >= maxFrameDepth {
		return s.malformed("values nest deeper than %d", maxFrameDepth)
	}
	s.stack = append(s.stack, n)
	s.state = stValue
	return nil
}

// endValue closes the value just read and every container it completed.
func (s *frameScanner) endValue() error {
	if s.isKey {
		s.lastKey = ""
		if s.capture {
			s.lastKey = string(s.key)
		}
		s.isKey = false
	} else if len(s.stack) == 2 && s.topMap {
		s.lastKey = ""
	}
	s.capture = false
	for len(s.stack) > 0 && s.stack[len(s.stack)-1] == 0 {
		s.stack = s.stack[:len(s.stack)-1]
	}
	if len(s.stack) > 0 {
		s.state = stValue
		return nil
	}
	if s.msgType != rpcInstallSnapshotType {
		s.state = stType
		return nil
	}
	if s.size < 0 {
		return s.malformed("InstallSnapshot request without a valid Size")
	}
	s.skip = uint64(s.size)
	s.state = stBody
	if s.skip == 0 {
		s.state = stType
	}
	return nil
}
