"""The namespaces testbed and the demo: real hosts, real middleboxes
(:mod:`dysco_testbed.middleboxes`) and real data planes (the DPDK agent or bmv2) with one Dysco
controller per device (:mod:`dysco_testbed.bed`), the scenarios run on it
(:mod:`dysco_testbed.scenarios`, :mod:`dysco_testbed.suite`) and ``dysco demo`` /
``dysco testbed`` (:mod:`dysco_testbed.testbed_cli`). Needs root; see ``docs/testbed.md``.
"""
