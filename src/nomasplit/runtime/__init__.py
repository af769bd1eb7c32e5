"""Real split inference: an edge server runs units ``s+1..F`` of a model on tensors that devices send.

- :mod:`~nomasplit.runtime.protocol`: the wire format (HTTP, raw tensor bytes with a dtype/shape header).
- :mod:`~nomasplit.runtime.models`: models as chains of split units, seeded or safetensors weights.
- :mod:`~nomasplit.runtime.server`: the edge (FastAPI + uvicorn), token, limits.
- :mod:`~nomasplit.runtime.client` / :mod:`~nomasplit.runtime.device`: the device's side.
- :mod:`~nomasplit.runtime.shaping`: channel emulation (paced transfers).
- :mod:`~nomasplit.runtime.prediction`: the system model's latency on this host, to set against measurements.
- :mod:`~nomasplit.runtime.loadtest`: concurrent clients against one edge.

The server's dependencies (fastapi, uvicorn, httpx, safetensors) are the ``serve`` extra.
"""
