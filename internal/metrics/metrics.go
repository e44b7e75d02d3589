// Package metrics holds the broker's Prometheus collectors. Each node registers them on its own
// registry (not the global one) so several nodes can live in one process, as tests and the testkit need.
// No collector has a per-channel label: channel counts are unbounded and would explode cardinality.
package metrics

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the node-wide collectors.
type Metrics struct {
	Publishes      prometheus.Counter   // PUB frames accepted for proposal
	Acks           prometheus.Counter   // PUBACKs sent (durable)
	PublishErrors  prometheus.Counter   // publishes answered with ERR
	Deliveries     prometheus.Counter   // MSG frames written to sessions
	Sessions       prometheus.Gauge     // open client sessions
	ActiveChannels prometheus.Gauge     // channel actors active (shard running) on this node
	Activations    prometheus.Counter   // channel activations
	AckLatency     prometheus.Histogram // proposal -> ack, seconds
	ActivationTime prometheus.Histogram // activation (shard start + leader) seconds
	ProtocolErrors prometheus.Counter   // ERR frames sent for bad input
	Reproposed     prometheus.Counter   // proposals Raft dropped (leader transferring) and proposed again
	Resident       prometheus.Gauge     // channel shard replicas running on this node (bounded by channels.max_active)
	Campaigns      prometheus.Counter   // elections started at once by a channel activation (not by Raft's timer)
	AuthFailures   prometheus.Counter   // logins refused (auth_failed)
	Denied         prometheus.Counter   // publishes and subscriptions refused (permission_denied)
	Refused        prometheus.Counter   // connections and subscriptions refused over a limit (limit_exceeded)
	NodesReplaced  prometheus.Counter   // nodes this node, leading the metadata group, marked replaced (cluster.replace_after)
	// Durable consumers, over all consumers of the node's channels (no per-consumer label).
	ConsumerDeliveries   prometheus.Counter // deliveries handed to consumer members (redeliveries included)
	ConsumerRedeliveries prometheus.Counter // deliveries after the first of the same message
	ConsumerAcks         prometheus.Counter // acks and terms received
	ConsumerDeadLetters  prometheus.Counter // messages dead-lettered (published to a dead-letter channel, or dropped)
	ConsumerSuperseded   prometheus.Counter // channel activations stopped because a newer one runs the consumers
	LeaseWaits           prometheus.Counter // activations whose consumers wait out an earlier activation's lease

	consumers *consumerVecs // per-consumer series (Consumer), for the consumers the config names
}

// New creates the collectors and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Publishes:      prometheus.NewCounter(prometheus.CounterOpts{Name: "sampan_publishes_total", Help: "Publishes accepted from clients."}),
		Acks:           prometheus.NewCounter(prometheus.CounterOpts{Name: "sampan_acks_total", Help: "Publishes acknowledged as durable."}),
		PublishErrors:  prometheus.NewCounter(prometheus.CounterOpts{Name: "sampan_publish_errors_total", Help: "Publishes answered with an error."}),
		Deliveries:     prometheus.NewCounter(prometheus.CounterOpts{Name: "sampan_deliveries_total", Help: "Messages delivered to subscribers."}),
		Sessions:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "sampan_sessions", Help: "Open client sessions."}),
		ActiveChannels: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sampan_active_channels", Help: "Channel actors active on this node."}),
		Activations:    prometheus.NewCounter(prometheus.CounterOpts{Name: "sampan_channel_activations_total", Help: "Channel actor activations."}),
		AckLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sampan_ack_latency_seconds", Help: "Time from proposal to durable ack.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		ActivationTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sampan_channel_activation_seconds", Help: "Time to activate a channel (start shard, elect leader).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		ProtocolErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "sampan_protocol_errors_total", Help: "ERR frames sent for bad client input."}),
		Reproposed:     prometheus.NewCounter(prometheus.CounterOpts{Name: "sampan_reproposed_total", Help: "Publish proposals Raft dropped (leader transferring) and proposed again."}),
		Resident:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "sampan_resident_replicas", Help: "Channel shard replicas running on this node, for channel actors here or elsewhere."}),
		Campaigns:      prometheus.NewCounter(prometheus.CounterOpts{Name: "sampan_campaigns_total", Help: "Elections a channel activation started at once instead of waiting for Raft's election timer."}),
		AuthFailures:   prometheus.NewCounter(prometheus.CounterOpts{Name: "sampan_auth_failures_total", Help: "Client logins refused (wrong or missing credentials)."}),
		Denied:         prometheus.NewCounter(prometheus.CounterOpts{Name: "sampan_permission_denied_total", Help: "Publishes and subscriptions refused by the user's permissions."}),
		Refused:        prometheus.NewCounter(prometheus.CounterOpts{Name: "sampan_limit_refusals_total", Help: "Connections and subscriptions refused over a configured limit."}),
		NodesReplaced:  prometheus.NewCounter(prometheus.CounterOpts{Name: "sampan_nodes_replaced_total", Help: "Nodes down past cluster.replace_after that this node, leading the metadata group, started replacing."}),
		ConsumerDeliveries: prometheus.NewCounter(prometheus.CounterOpts{Name: "sampan_consumer_deliveries_total",
			Help: "Messages handed to durable consumer members, redeliveries included."}),
		ConsumerRedeliveries: prometheus.NewCounter(prometheus.CounterOpts{Name: "sampan_consumer_redeliveries_total",
			Help: "Durable consumer deliveries of a message delivered before."}),
		ConsumerAcks: prometheus.NewCounter(prometheus.CounterOpts{Name: "sampan_consumer_acks_total",
			Help: "Acks and terms of durable consumer deliveries."}),
		ConsumerDeadLetters: prometheus.NewCounter(prometheus.CounterOpts{Name: "sampan_consumer_dead_letters_total",
			Help: "Messages a durable consumer gave up on after max_deliver (dead-lettered or dropped)."}),
		ConsumerSuperseded: prometheus.NewCounter(prometheus.CounterOpts{Name: "sampan_consumer_superseded_total",
			Help: "Channel activations on this node stopped because a newer activation of the channel runs its durable consumers."}),
		LeaseWaits: prometheus.NewCounter(prometheus.CounterOpts{Name: "sampan_consumer_lease_waits_total",
			Help: "Channel activations that found the one before had not released the channel (a crash, a partition, a node taken for dead): their durable consumers deliver only once its lease ran out."}),
	}
	reg.MustRegister(m.Publishes, m.Acks, m.PublishErrors, m.Deliveries, m.Sessions, m.ActiveChannels,
		m.Activations, m.AckLatency, m.ActivationTime, m.ProtocolErrors, m.Reproposed, m.Resident, m.Campaigns,
		m.AuthFailures, m.Denied, m.Refused, m.NodesReplaced, m.ConsumerDeliveries, m.ConsumerRedeliveries, m.ConsumerAcks, m.ConsumerDeadLetters,
		m.ConsumerSuperseded, m.LeaseWaits)
	m.consumers = newConsumerVecs(reg)
	return m
}

// Per-consumer series, for the consumers the configuration names (metrics.consumers): the node-wide
// consumer counters above have no labels, so that a node with many consumers keeps a bounded number
// of series.
type consumerVecs struct {
	deliveries, redeliveries, acks, deadLetters *prometheus.CounterVec
	lag, pending                                *prometheus.GaugeVec
}

// ConsumerSeries are one consumer's labeled collectors (labels channel and consumer). Owned by the
// channel actor that runs the consumer; the collectors themselves are safe for concurrent use.
type ConsumerSeries struct {
	Deliveries, Redeliveries, Acks, DeadLetters prometheus.Counter
	Lag, Pending                                prometheus.Gauge
	vecs                                        *consumerVecs
	labels                                      []string
}

func newConsumerVecs(reg prometheus.Registerer) *consumerVecs {
	labels := []string{"channel", "consumer"}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}
	v := &consumerVecs{
		deliveries:   counter("sampan_consumer_channel_deliveries_total", "Deliveries of one durable consumer (metrics.consumers), redeliveries included."),
		redeliveries: counter("sampan_consumer_channel_redeliveries_total", "Deliveries of one durable consumer of a message delivered before."),
		acks:         counter("sampan_consumer_channel_acks_total", "Acks and terms of one durable consumer's deliveries."),
		deadLetters:  counter("sampan_consumer_channel_dead_letters_total", "Messages one durable consumer gave up on after max_deliver."),
		lag:          gauge("sampan_consumer_channel_lag", "Last seq minus ack floor of one durable consumer, while its channel is active on this node."),
		pending:      gauge("sampan_consumer_channel_pending", "Deliveries of one durable consumer handed out and not settled, while its channel is active on this node."),
	}
	reg.MustRegister(v.deliveries, v.redeliveries, v.acks, v.deadLetters, v.lag, v.pending)
	return v
}

// Consumer returns the labeled series of one consumer (counters accumulate over activations).
func (m *Metrics) Consumer(channel, consumer string) *ConsumerSeries {
	v := m.consumers
	return &ConsumerSeries{
		Deliveries: v.deliveries.WithLabelValues(channel, consumer), Redeliveries: v.redeliveries.WithLabelValues(channel, consumer),
		Acks: v.acks.WithLabelValues(channel, consumer), DeadLetters: v.deadLetters.WithLabelValues(channel, consumer),
		Lag: v.lag.WithLabelValues(channel, consumer), Pending: v.pending.WithLabelValues(channel, consumer),
		vecs: v, labels: []string{channel, consumer},
	}
}

// Stopped removes the consumer's gauges: its channel is no longer active on this node (another node's,
// or the next activation's, are the current ones).
func (s *ConsumerSeries) Stopped() {
	s.vecs.lag.DeleteLabelValues(s.labels...)
	s.vecs.pending.DeleteLabelValues(s.labels...)
}
