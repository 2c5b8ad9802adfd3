"""The benchmarks behind ``dysco bench`` (:mod:`dysco_bench.bench_cli`): the controller against
the project's P4Runtime server (:mod:`dysco_bench.controller_bench`), the DPDK data plane
(:mod:`dysco_bench.dataplane_bench`), reconfigurations on the testbed
(:mod:`dysco_bench.e2e_bench`) and the soak (:mod:`dysco_bench.soak`). Results are JSON.
"""
