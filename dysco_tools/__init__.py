"""Tools around the protocol core (not part of it): the Spin model checker's runner
(:mod:`dysco_tools.verify`, ``make verify``) and the simulator's command line
(:mod:`dysco_tools.sim_cli`, ``dysco sim``). They use :mod:`dysco_proto`; nothing in
:mod:`dysco_proto` uses them.
"""
