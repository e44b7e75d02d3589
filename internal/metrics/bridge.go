package metrics

import "github.com/prometheus/client_golang/prometheus"

// BridgeRule is one NATS bridge rule's figures, read at scrape time. Rules are few (they come from the
// config), so a per-rule label is safe; there is no per-channel label.
type BridgeRule struct {
	Rule, Direction                     string
	Connected                           bool
	Exported, Imported, Skipped, Errors uint64
	Lag                                 uint64
}

var (
	bridgeLabels    = []string{"rule", "direction"}
	bridgeConnected = prometheus.NewDesc("sampan_bridge_connected", "1 if the NATS bridge rule runs on this node with NATS connected.", bridgeLabels, nil)
	bridgeExported  = prometheus.NewDesc("sampan_bridge_exported_total", "Messages published to NATS by the rule (re-sends included).", bridgeLabels, nil)
	bridgeImported  = prometheus.NewDesc("sampan_bridge_imported_total", "NATS messages stored in Sampan by the rule.", bridgeLabels, nil)
	bridgeSkipped   = prometheus.NewDesc("sampan_bridge_skipped_total", "Messages not bridged because they came from the other side (loop prevention).", bridgeLabels, nil)
	bridgeErrors    = prometheus.NewDesc("sampan_bridge_errors_total", "Errors met by the rule.", bridgeLabels, nil)
	bridgeLag       = prometheus.NewDesc("sampan_bridge_export_lag_messages", "Messages in the rule's channels not yet accepted by NATS.", bridgeLabels, nil)
)

type bridgeCollector struct{ rules func() []BridgeRule }

// RegisterBridge registers a collector that reads the bridge's rules at each scrape.
func RegisterBridge(reg prometheus.Registerer, rules func() []BridgeRule) {
	reg.MustRegister(bridgeCollector{rules})
}

func (c bridgeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{bridgeConnected, bridgeExported, bridgeImported, bridgeSkipped, bridgeErrors, bridgeLag} {
		ch <- d
	}
}

func (c bridgeCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.rules() {
		conn := 0.0
		if r.Connected {
			conn = 1
		}
		ch <- prometheus.MustNewConstMetric(bridgeConnected, prometheus.GaugeValue, conn, r.Rule, r.Direction)
		ch <- prometheus.MustNewConstMetric(bridgeExported, prometheus.CounterValue, float64(r.Exported), r.Rule, r.Direction)
		ch <- prometheus.MustNewConstMetric(bridgeImported, prometheus.CounterValue, float64(r.Imported), r.Rule, r.Direction)
		ch <- prometheus.MustNewConstMetric(bridgeSkipped, prometheus.CounterValue, float64(r.Skipped), r.Rule, r.Direction)
		ch <- prometheus.MustNewConstMetric(bridgeErrors, prometheus.CounterValue, float64(r.Errors), r.Rule, r.Direction)
		ch <- prometheus.MustNewConstMetric(bridgeLag, prometheus.GaugeValue, float64(r.Lag), r.Rule, r.Direction)
	}
}
