"""The pipeline contract and its byte-level model.

:mod:`dysco_pipeline.pipeline` is the contract shared by every data plane (P4Info names,
codes, sizes, controller-header layouts; ``docs/pipeline.md``); :mod:`dysco_pipeline.refmodel`
is the Python reference model of that pipeline, bit-exact on frames
(:mod:`dysco_pipeline.frames`, :mod:`dysco_pipeline.checksum`); :mod:`dysco_pipeline.scapy_layers`
dissects Dysco's wire format in scapy. The protocol core (:mod:`dysco_proto`) does not depend on
this package.
"""
