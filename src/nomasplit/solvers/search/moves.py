"""The moves of the discrete search, defined once: both pricings (:mod:`.local` from the current interference,
:mod:`.groups` at every group's optimal powers) generate these kinds, and plans report accepted moves by these
names.

With one subchannel per user and direction, a plan is: which users offload, and each offloading user's uplink and
downlink subchannel (its split, powers and compute units follow from the pricing). Every move keeps at most ``K``
users of an AP per subchannel and direction.
"""

from __future__ import annotations

#: One user to another subchannel, in one direction.
RELOCATION = "relocation"
#: Two users exchange their subchannels, in one direction.
SWAP = "swap"
#: The users of one AP on two subchannels exchange them, in one direction.
CHANNEL_SWAP = "channel swap"
#: An offloading user computes its whole model on the device instead (it leaves both its groups).
DEVICE_ONLY = "device-only"
#: A Device-Only user offloads on an uplink and a downlink subchannel.
ACTIVATION = "activation"
#: A Device-Only user takes an offloading user's two subchannels; that user goes Device-Only.
EXCHANGE = "exchange"
#: A user's own transmit power, on a grid (only where powers are not optimised per group).
POWER = "power"

#: Every kind, in the order the searches generate them.
KINDS = (RELOCATION, SWAP, CHANNEL_SWAP, DEVICE_ONLY, ACTIVATION, EXCHANGE, POWER)
