package serverless

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/wsroute/wsroute"
)

// API Gateway may invoke the function for two messages of one connection
// at the same time, on two instances (it does not serialize a connection's
// messages). Each reads the record, runs its message and writes the state
// back; the second write must not undo the first one's change (a
// subscription, a log-in). So a message writes with a compare-and-swap
// (ChannelStore.Update) and, when the record changed meanwhile, applies
// its own change again to what the other wrote (rebase) and retries.

// maxUpdateTries bounds the compare-and-swap loop of one message: each
// failed try means another event of the same connection was stored in
// between, so running out takes that many events landing within one
// message's store round trips.
const maxUpdateTries = 16

// errGone is save's error when the connection's record is gone.
var errGone = errors.New("serverless: the connection's record is gone")

// save stores what one message changed: mine is the state the message
// left, base the record it started from (as the store returned it). A
// message that changed nothing only restarts the record's expiry. It
// returns errGone when the record was deleted or expired (the connection
// closed meanwhile; nothing is stored).
func (h *Handler) save(ctx context.Context, base, mine wsroute.ChannelState) error {
	if sameState(base, mine) {
		ok, err := h.opts.Store.Touch(ctx, base.ID, h.opts.TTL)
		if err == nil && !ok {
			err = errGone
		}
		return err
	}
	cur, next := base, mine
	for range maxUpdateTries {
		ok, err := h.opts.Store.Update(ctx, cur, next, h.opts.TTL)
		if err != nil || ok {
			return err
		}
		var found bool
		if cur, found, err = h.opts.Store.Get(ctx, base.ID); err != nil {
			return err
		}
		if !found {
			return errGone
		}
		next = rebase(base, mine, cur)
	}
	return fmt.Errorf("serverless: the state of %q changed under %d tries in a row; this message's change is lost", base.ID, maxUpdateTries)
}

// rebase applies to cur what one message changed from base to mine: cur is
// the record as another event of the connection, handled meanwhile, left
// it. The subscriptions the message added or removed are added to or
// removed from cur's; a session the message set, replaced or cleared
// replaces cur's (the later write wins, as between two handlers of one
// socket channel); a session it left alone stays as cur has it, so a
// concurrent log-out or revocation is never undone.
func rebase(base, mine, cur wsroute.ChannelState) wsroute.ChannelState {
	next := cur
	if !bytes.Equal(base.Session, mine.Session) || !base.SessionExpires.Equal(mine.SessionExpires) {
		next.Session, next.SessionExpires = mine.Session, mine.SessionExpires
	}
	next.Topics = slices.Clone(cur.Topics)
	for _, t := range mine.Topics {
		if !slices.Contains(base.Topics, t) && !slices.Contains(next.Topics, t) {
			next.Topics = append(next.Topics, t)
		}
	}
	next.Topics = slices.DeleteFunc(next.Topics, func(t string) bool {
		return slices.Contains(base.Topics, t) && !slices.Contains(mine.Topics, t)
	})
	slices.Sort(next.Topics)
	return next
}

// sameState reports whether a and b are the same record, field by field
// (TestSameStateSeesEveryField fails when ChannelState gains a field this
// does not compare).
func sameState(a, b wsroute.ChannelState) bool {
	return a.ID == b.ID && a.Channel == b.Channel && a.URL == b.URL && a.RemoteAddr == b.RemoteAddr &&
		a.Connected == b.Connected && bytes.Equal(a.Session, b.Session) &&
		a.SessionExpires.Equal(b.SessionExpires) && slices.Equal(a.Topics, b.Topics) &&
		maps.EqualFunc(a.Header, b.Header, slices.Equal)
}

// cloneState returns st with its own copies of the slices a message's
// state is built from, so that base stays what the store returned.
func cloneState(st wsroute.ChannelState) wsroute.ChannelState {
	st.Topics = slices.Clone(st.Topics)
	st.Session = bytes.Clone(st.Session)
	return st
}
