"""Pre-empted proposal: every Byzantine member attests its own value for the honest proposer's slot
50 ms before the honest proposal goes out (the proposal schedule is public).

Run: x0ctl quorum simulate -n 16 -f 1 --duration 20s --adversary examples/quorum/adversaries/preempt.py

Outcome: nothing. Proposer authority: a value counts as a proposal only when the slot's owner
signed it, so honest nodes never endorse the pre-empting value; it keeps its f votes (1 < quorum
11) and the honest proposal is validated by every honest node (validity 0 violations, agreement
0 conflicts, validated rate 1.0). Before proposer authority honest nodes endorsed the first value
they saw from any member and the false value was validated in 50 of 50 runs.
"""

from x0ctl.quorum.adversary import Adversary


class Preempt(Adversary):
    lead_ms = 50.0
    value = "pre-empted"

    def start(self, net):
        if net.honest_proposal is None:
            return
        event, at_ms = net.honest_proposal
        for node in net.byzantine:
            net.attest(node, event, self.value, at_ms=max(0.0, at_ms - self.lead_ms))
