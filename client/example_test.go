package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
)

// exampleServer starts a throwaway broker so the examples run as tests; in your code, the address is
// your server's (default 127.0.0.1:7420).
func exampleServer() (addr string, stop func()) {
	dir, err := os.MkdirTemp("", "sampan-example")
	if err != nil {
		log.Fatal(err)
	}
	cfg := broker.DefaultConfig()
	cfg.Data, cfg.Listen, cfg.HTTP, cfg.Raft = dir, "127.0.0.1:0", "127.0.0.1:0", freeAddr()
	cfg.LogLevel = "error"
	b, err := broker.Start(cfg, quietLogger())
	if err != nil {
		log.Fatal(err)
	}
	return b.Addr(), func() {
		_ = b.Close(context.Background())
		os.RemoveAll(dir)
	}
}

func Example() {
	addr, stop := exampleServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := client.Connect(ctx, addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Publish returns once the message is durable.
	seq, err := c.Publish(ctx, "orders.eu", []byte("order 1"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored as seq", seq)

	// Read the channel from its first message.
	got := make(chan *client.Message, 1)
	sub, err := c.Subscribe(ctx, "orders.eu", client.StartEarliest(), func(m *client.Message) { got <- m })
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Unsubscribe(ctx)
	m := <-got
	fmt.Printf("seq %d: %s\n", m.Seq, m.Payload)
	// Output:
	// stored as seq 1
	// seq 1: order 1
}

// PublishAsync pipelines publishes: many are in flight at once and each gets its own result.
func ExampleClient_PublishAsync() {
	addr, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	c, err := client.Connect(ctx, addr, client.WithMaxInflight(256))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	var futures []*client.PubFuture
	for i := 0; i < 1000; i++ {
		f, err := c.PublishAsync(ctx, "metrics.cpu", []byte(fmt.Sprint(i)))
		if err != nil {
			log.Fatal(err)
		}
		futures = append(futures, f)
	}
	last, err := futures[len(futures)-1].Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("last seq", last.Seq)
	// Output: last seq 1000
}

// An idempotency key makes a retry safe: the repeat is recognised and stores nothing.
func ExampleWithIdempotencyKey() {
	addr, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	c, err := client.Connect(ctx, addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	first, _ := c.Publish(ctx, "payments", []byte("pay #77"), client.WithIdempotencyKey("payment-77"))
	f, _ := c.PublishAsync(ctx, "payments", []byte("pay #77"), client.WithIdempotencyKey("payment-77"))
	again, _ := f.Wait(ctx)
	fmt.Println(first, again.Seq, again.Duplicate)
	// Output: 1 1 true
}

// Server errors match the package's sentinels with errors.Is.
func ExampleErrInvalidChannel() {
	addr, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	c, err := client.Connect(ctx, addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_, err = c.Publish(ctx, "not a channel", []byte("x"))
	fmt.Println(errors.Is(err, client.ErrInvalidChannel))
	// Output: true
}

// Subscribe from a point in time, with headers on the messages.
func ExampleClient_Subscribe() {
	addr, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	c, err := client.Connect(ctx, addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	since := time.Now()
	_, _ = c.Publish(ctx, "audit", []byte("login"), client.WithHeaders(map[string]string{"user": "ada"}))

	got := make(chan *client.Message, 1)
	sub, err := c.Subscribe(ctx, "audit", client.StartAtTime(since), func(m *client.Message) { got <- m })
	if err != nil {
		log.Fatal(err)
	}
	m := <-got
	fmt.Println(string(m.Payload), m.Headers["user"])
	_ = sub.Unsubscribe(ctx)
	// Output: login ada
}
