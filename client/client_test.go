package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sampan-io/sampan/client"
	"github.com/sampan-io/sampan/internal/testutil"
)

func TestPublishSubscribe(t *testing.T) {
	b := testutil.StartBroker(t, testutil.Config(t, t.TempDir()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := make(chan *client.Message, 100)
	sub, err := c.Subscribe(ctx, "orders.eu", client.StartNew(), func(m *client.Message) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		seq, err := c.Publish(ctx, "orders.eu", []byte(fmt.Sprintf("m%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		if seq != uint64(i) {
			t.Fatalf("publish %d got seq %d", i, seq)
		}
	}
	for i := 1; i <= 10; i++ {
		select {
		case m := <-got:
			if m.Seq != uint64(i) || string(m.Payload) != fmt.Sprintf("m%d", i) {
				t.Fatalf("got seq %d %q, want %d", m.Seq, m.Payload, i)
			}
		case <-ctx.Done():
			t.Fatalf("waiting for message %d: %v", i, ctx.Err())
		}
	}
	if err := sub.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestHandlerPublishesOnSameClient: a handler may publish on its own client while a backlog larger than
// its window is streaming in (the connection reader must never wait for a handler).
func TestHandlerPublishesOnSameClient(t *testing.T) {
	b := testutil.StartBroker(t, testutil.Config(t, t.TempDir()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 600
	var last *client.PubFuture
	for i := 0; i < n; i++ {
		if last, err = c.PublishAsync(ctx, "src", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := last.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	count := 0
	_, err = c.Subscribe(ctx, "src", client.StartEarliest(), func(m *client.Message) {
		if _, err := c.Publish(ctx, "dst", m.Payload); err != nil {
			done <- err
			return
		}
		if count++; count == n {
			done <- nil
		}
	}, client.WithWindow(16))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatalf("handler republished %d of %d: %v", count, n, ctx.Err())
	}
}
