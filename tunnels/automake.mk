# Overlay management: tunnel ports, peers, MTU, liveness.
