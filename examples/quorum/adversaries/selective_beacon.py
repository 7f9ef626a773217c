"""Selective beaconing: every Byzantine member beacons to half of the honest nodes only, so the other
half reports it down while the first half still hears it.

Run: x0ctl quorum simulate -n 16 -f 5 --duration 30s --adversary examples/quorum/adversaries/selective_beacon.py

Outcome: no honest node is quarantined. A failure report is an observation ("I have not heard
this member"), counted towards the quorum and never held against its signer: the honest nodes
that do hear the Byzantine members cannot tell a lie from asymmetric reachability, so they do not
punish. (Before, they penalised the reporters as `contradicted_report` and quarantined 6-7 honest
nodes in every run.) Agreement and validity hold; the Byzantine members' own NODE_FAILURE may be
validated, which is true: they are faulty.
"""

from x0ctl.quorum.adversary import Adversary


class SelectiveBeacon(Adversary):
    def start(self, net):
        heard_by = net.honest[: len(net.honest) // 2]
        for node in net.byzantine:
            net.beacons(node, heard_by)
