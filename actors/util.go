package actors

import (
	"context"
	"time"

	"github.com/lni/dragonboat/v4"
)

// retryTemp runs op until it succeeds, fails with a non-temporary error, or the deadline passes.
// Dragonboat answers "not ready" / "busy" for a moment after a shard starts or changes leader.
func retryTemp(deadline time.Time, op func(context.Context) error) error {
	for {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := op(ctx)
		cancel()
		if err == nil || !dragonboat.IsTempError(err) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}
