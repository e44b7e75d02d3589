package actors

import "time"

// Campaign backoff: the first campaign is immediate; while no leader shows up it is asked again after
// 1, 2, 4 ... campaignBackoffMax ms (a campaign Dragonboat skipped because the shard's bootstrap
// membership is not applied yet costs nothing, and one that lost its vote must not keep raising the
// term), for at most campaignWindow; after that Raft's own election timer is the fallback.
const (
	campaignBackoffMax = 32 * time.Millisecond
	campaignWindow     = 300 * time.Millisecond
)

// election decides, each time an activation looks at its local replica, whether the shard is led,
// whether to probe the node of the leader the replica names, or whether to make the replica campaign
// (decision 0013). It is pure: time and what the replica reports are passed in; the channel actor
// carries the decisions out (campaignUntilLed).
//
// The rules: a leader on a node believed up ends the wait, but a leader elsewhere is first probed once
// (this activation exists because the previous one went away, usually with its node and the leader,
// before this node's periodic probes noticed); while no live leader is known, the replica campaigns at
// once and then with a growing backoff, within campaignWindow. A live leader is never campaigned
// against (the vote would depose it), and a joining (non-voting) replica never campaigns.
type election struct {
	mine                  uint64    // this node's replica
	start, deadline       time.Time // when the wait began; when it fails
	canCampaign, canProbe bool
	probed                uint64        // the leader replica already probed
	next                  time.Time     // no campaign before this
	backoff               time.Duration // wait after the next campaign
}

// leaderView is what the local replica reports (Dragonboat's GetLeaderID) and what liveness says of the
// node of the replica it names.
type leaderView struct {
	running    bool   // the local replica runs
	leader     uint64 // the replica it names leader (0: none known)
	leaderNode uint64 // that replica's node (0: not a known replica)
	leaderUp   bool   // that node is believed up
}

type electionStep int

const (
	electionWait     electionStep = iota // look again shortly
	electionLed                          // a live leader: done
	electionTimedOut                     // past the deadline with no live leader
	electionProbe                        // probe view.leaderNode now, then look again
	electionCampaign                     // make the local replica campaign, then look again
)

func (e *election) step(now time.Time, v leaderView) electionStep {
	if v.leader != 0 && v.leaderUp {
		if v.leader == e.mine || !e.canProbe || e.probed == v.leader || v.leaderNode == 0 {
			return electionLed
		}
		e.probed = v.leader
		return electionProbe
	}
	if now.After(e.deadline) {
		return electionTimedOut
	}
	if e.canCampaign && v.running && !now.Before(e.next) && now.Sub(e.start) < campaignWindow {
		if e.backoff == 0 {
			e.backoff = time.Millisecond
		}
		e.next, e.backoff = now.Add(e.backoff), min(2*e.backoff, campaignBackoffMax)
		return electionCampaign
	}
	return electionWait
}
