package client

import (
	"context"
	"errors"
	"iter"

	"github.com/flowmesh/flowmesh"
)

// errStopIter ends a Watch or Subscribe when the loop over its iterator
// breaks.
var errStopIter = errors.New("client: iteration stopped")

// Changes is Watch as an iterator: range over it to get each change under
// prefix from fromRevision on, with the same reconnect and resume
// guarantees. Breaking out of the loop ends the watch. An error (ctx ended,
// a compacted revision) is yielded once, with a zero event, and ends it.
//
//	for ev, err := range c.Changes(ctx, path, "cfg/", 0) {
//		if err != nil { return err }
//		...
//	}
func (c *Client) Changes(ctx context.Context, path, prefix string, fromRevision uint64) iter.Seq2[flowmesh.KVEvent, error] {
	return func(yield func(flowmesh.KVEvent, error) bool) {
		err := c.Watch(ctx, path, prefix, fromRevision, func(ev flowmesh.KVEvent) error {
			if !yield(ev, nil) {
				return errStopIter
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopIter) {
			yield(flowmesh.KVEvent{}, err)
		}
	}
}

// Messages is Subscribe as an iterator: every message of the partition from
// offset on, each once and in order across reconnects. Breaking out of the
// loop ends the subscription; an error is yielded once and ends it.
func (c *Client) Messages(ctx context.Context, path string, partition int, offset uint64) iter.Seq2[flowmesh.Message, error] {
	return func(yield func(flowmesh.Message, error) bool) {
		err := c.Subscribe(ctx, path, partition, offset, func(m flowmesh.Message) error {
			if !yield(m, nil) {
				return errStopIter
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopIter) {
			yield(flowmesh.Message{}, err)
		}
	}
}

// listPage is how many keys Entries asks for per List call.
const listPage = 1000

// Entries iterates over every key under prefix in key order, calling List
// page by page (each page a read at the given consistency; a key changed
// between pages is seen as of its page). An error is yielded once and ends
// the iteration.
func (c *Client) Entries(ctx context.Context, path, prefix string, opts ...flowmesh.CallOption) iter.Seq2[flowmesh.KVEntry, error] {
	return func(yield func(flowmesh.KVEntry, error) bool) {
		after := ""
		for {
			page, err := c.List(ctx, path, prefix, after, listPage, opts...)
			if err != nil {
				yield(flowmesh.KVEntry{}, err)
				return
			}
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
			}
			if len(page) == 0 {
				return
			}
			after = page[len(page)-1].Key
		}
	}
}
