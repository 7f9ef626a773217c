"""Equivocation timed on a partition, with a key rotation in between.

A Byzantine member owns a governance slot. When the scenario's first partition starts (partition
times are part of the public scenario), every Byzantine member rotates its key; the owner then
proposes value A to the honest nodes of side A and value B to those of side B, and every other
Byzantine member backs A on side A and B on side B. Just after the heal it sends each side the
other side's value as well, under the new key, hoping that both sides validate what they saw first.

Run: x0ctl quorum simulate --scenario examples/quorum/split-brain.yaml -f 2 \
       --adversary examples/quorum/adversaries/split_rotate_equivocate.py

Outcome below n/3: no conflicting decision and no false value. Neither side of an even split
holds the quorum, so nothing is validated while split; after the heal anti-entropy brings both
signed values of each Byzantine member together (`equivocation`), they are quarantined and at most
one value is ever validated. With f >= n/3 (e.g. -n 7 -f 3 without the split) both values are
validated: the bound is tight.
"""

from x0ctl.quorum.adversary import Adversary

SLOT = 7


class SplitRotateEquivocate(Adversary):
    def start(self, net):
        if not net.byzantine:
            return
        partitions = net.partitions
        if partitions:
            start_ms, heal_ms, side_a, side_b = partitions[0]
            strike_ms = start_ms + 1000.0
        else:
            half = len(net.honest) // 2
            side_a, side_b = set(net.honest[:half]), set(net.honest[half:])
            strike_ms, heal_ms = 5000.0, None
        self.groups = ([n for n in net.honest if n in side_a], [n for n in net.honest if n in side_b])
        net.at(strike_ms, self.strike)
        if heal_ms is not None:
            net.at(heal_ms + 500.0, self.cross)

    def strike(self, net):
        for node in net.byzantine:
            net.rotate(node)
        event = net.proposal_event(net.byzantine[0], SLOT)
        owner_first = [net.byzantine[0]] + list(net.byzantine[1:])
        for node in owner_first:
            net.attest(node, event, "value-A", to=self.groups[0])
            net.attest(node, event, "value-B", to=self.groups[1])

    def cross(self, net):
        event = net.proposal_event(net.byzantine[0], SLOT)
        for node in net.byzantine:
            net.attest(node, event, "value-B", to=self.groups[0])
            net.attest(node, event, "value-A", to=self.groups[1])
