"""Forged-key votes (unbound sender): the Byzantine members declare an honest node failed, in their
own names and in the names of enough honest members to reach the quorum, every vote signed with a
Byzantine key that the message itself names.

Run: x0ctl quorum simulate -n 7 -f 1 --duration 20s --adversary examples/quorum/adversaries/forged_key_votes.py --rules mesh

Outcome under x0ctl's rules: nothing. A message is verified against the key the registry binds to
its sender; a vote in an honest member's name under another key is `key_substitution`, blamed on
the node that delivered it, which is quarantined; the victim is never declared failed.

Outcome under the mesh's rules (`--rules mesh`): a message is verified against the key it carries,
so the forged votes are accepted, and the quorum code never checks vote signatures: every honest
node validates the victim's failure (validity violated, one Byzantine member out of seven).
"""

from x0ctl.quorum.adversary import Adversary
from x0ctl.quorum.events import DOWN
from x0ctl.quorum.protocol import ATTEST


class ForgedKeyVotes(Adversary):
    at_ms = 5_000.0

    def start(self, net):
        net.at(self.at_ms, self.strike)

    def strike(self, net):
        victim = net.honest[0]
        event = net.failure_event(victim)
        attacker = net.byzantine[0]
        payload = {"type": event[0], "subject": event[1], "slot": event[2], "value": DOWN}
        for node in net.byzantine:
            net.attest(node, event, DOWN)
        needed = max(0, net.quorum - len(net.byzantine))
        for claimed in [node for node in net.honest if node != victim][:needed]:
            net.send(attacker, net.sign_as(attacker, claimed, ATTEST, payload))
