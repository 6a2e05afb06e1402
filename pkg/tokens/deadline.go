package tokens

import (
	"context"
	"time"
)

// compensationReserve is how long before Lambda's deadline an invocation's
// work stops, so that undoing or recording a half-made change still fits:
// reconciling a lost create (a listing, a describe, a delete) and writing
// the idempotency record, each with the clients' own retries.
const compensationReserve = 8 * time.Second

type deadlineKey struct{}

// ReserveForCleanUp ends the work before Lambda's deadline (by
// compensationReserve, or a third of the time left when that is shorter)
// and remembers the real deadline for compensation.
func ReserveForCleanUp(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	reserve := compensationReserve
	if left := time.Until(dl); left < 3*reserve {
		reserve = left / 3
	}
	return context.WithDeadline(context.WithValue(ctx, deadlineKey{}, dl), dl.Add(-reserve))
}

// Compensation is the context of clean-up work: it ignores the work's own
// deadline and ends just before Lambda's, so that the answer still goes out.
func Compensation(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Value(deadlineKey{}).(time.Time)
	if !ok {
		dl = time.Now().Add(compensationReserve)
	}
	return context.WithDeadline(context.WithoutCancel(ctx), dl.Add(-250*time.Millisecond))
}
