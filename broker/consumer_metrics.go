package broker

import (
	"fmt"
	"strings"
	"sync"

	"github.com/rs/zerolog"

	"github.com/sampan-io/sampan/bridge"
	"github.com/sampan-io/sampan/internal/metrics"
)

// MetricsConfig chooses which durable consumers get metric series of their own. The node-wide
// consumer totals have no labels; a consumer named here also gets sampan_consumer_channel_* series
// with the labels channel and consumer.
type MetricsConfig struct {
	// Consumers: each rule names consumers by channel pattern ('*' one token, '>' the rest) and
	// consumer name ("*": every consumer of a matching channel).
	Consumers []ConsumerMetricsRule `yaml:"consumers"`
	// MaxConsumerSeries bounds how many consumers a node gives series to (default 100); the ones
	// past it are counted in the totals only, and a warning says so once.
	MaxConsumerSeries int `yaml:"max_consumer_series"`
}

// ConsumerMetricsRule is one entry of metrics.consumers.
type ConsumerMetricsRule struct {
	Channel  string `yaml:"channel"`
	Consumer string `yaml:"consumer"`
}

const defaultMaxConsumerSeries = 100

// consumerSeries compiles the rules into Env.ConsumerSeries (nil when there are none).
func (c *MetricsConfig) consumerSeries(m *metrics.Metrics, log zerolog.Logger) (func(channel, consumer string) *metrics.ConsumerSeries, error) {
	type rule struct {
		p        bridge.Pattern
		consumer string
	}
	if c.MaxConsumerSeries < 0 {
		return nil, fmt.Errorf("sampan: metrics.max_consumer_series %d is negative", c.MaxConsumerSeries)
	}
	rules := make([]rule, 0, len(c.Consumers))
	for i, r := range c.Consumers {
		p, err := bridge.ParsePattern(strings.TrimSpace(r.Channel), bridge.KindChannel)
		if err != nil {
			return nil, fmt.Errorf("sampan: metrics.consumers[%d].channel: %w", i, err)
		}
		if r.Consumer == "" {
			return nil, fmt.Errorf("sampan: metrics.consumers[%d].consumer is empty (a name, or \"*\" for every one)", i)
		}
		rules = append(rules, rule{p, r.Consumer})
	}
	if len(rules) == 0 {
		return nil, nil
	}
	max := c.MaxConsumerSeries
	if max == 0 {
		max = defaultMaxConsumerSeries
	}
	var mu sync.Mutex // channel actors ask concurrently
	labeled := map[[2]string]*metrics.ConsumerSeries{}
	warned := false
	return func(channel, consumer string) *metrics.ConsumerSeries {
		named := false
		for _, r := range rules {
			if _, ok := r.p.Match(channel); ok && (r.consumer == "*" || r.consumer == consumer) {
				named = true
				break
			}
		}
		if !named {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		k := [2]string{channel, consumer}
		if s := labeled[k]; s != nil {
			return s
		}
		if len(labeled) >= max {
			if !warned {
				warned = true
				log.Warn().Int("max_consumer_series", max).Str("channel", channel).Str("consumer", consumer).
					Msg("metrics.consumers names more consumers than metrics.max_consumer_series: the rest get no series of their own")
			}
			return nil
		}
		s := m.Consumer(channel, consumer)
		labeled[k] = s
		return s
	}, nil
}
